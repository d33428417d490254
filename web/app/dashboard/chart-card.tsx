// A chart's card: its title, unit and legend around the drawing.

import type { ComponentChildren, VNode } from 'preact';

export function ChartCard(props: {
  title: string;
  unit: string;
  series?: { name: string; className: string }[];
  children: ComponentChildren;
}): VNode {
  return (
    <figure class="dash-card">
      <figcaption>
        <h3>{props.title}</h3>
        <span class="dash-unit">{props.unit}</span>
      </figcaption>
      {props.children}
      {props.series !== undefined && props.series.length > 0 ? (
        <ul class="dash-legend" aria-label={`${props.title} legend`}>
          {props.series.map((series) => (
            <li key={series.name}>
              <span class={`dash-swatch ${series.className}`} aria-hidden="true" />
              {series.name}
            </li>
          ))}
        </ul>
      ) : null}
    </figure>
  );
}
