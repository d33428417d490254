// A labelled select for one of the dashboard's filters (chatbot, provider), with "all" first.

import type { VNode } from 'preact';

export const ALL = '';

/** The options, plus the selected one when it is no longer in the window (so the select still shows it). */
export function withSelected(options: readonly string[], selected: string): string[] {
  return selected === ALL || options.includes(selected) ? [...options] : [...options, selected].sort();
}

export function FilterSelect(props: {
  label: string;
  allLabel: string;
  options: readonly string[];
  value: string;
  onChange: (value: string) => void;
}): VNode {
  return (
    <label>
      {props.label}
      <select
        value={props.value}
        onChange={(event) => props.onChange((event.target as HTMLSelectElement).value)}
      >
        <option value={ALL}>{props.allLabel}</option>
        {withSelected(props.options, props.value).map((id) => (
          <option key={id} value={id}>
            {id}
          </option>
        ))}
      </select>
    </label>
  );
}
