// An element's width in CSS pixels, followed as it resizes (charts draw at their real size, not a scaled viewBox).

import { useLayoutEffect, useRef, useState } from 'preact/hooks';

export function useWidth(initial: number): [(element: HTMLDivElement | null) => void, number] {
  const [width, setWidth] = useState(initial);
  const element = useRef<HTMLDivElement | null>(null);
  useLayoutEffect(() => {
    const node = element.current;
    if (node === null) return undefined;
    const measure = (): void => setWidth(Math.max(120, Math.floor(node.clientWidth)));
    measure();
    const observer = new ResizeObserver(measure);
    observer.observe(node);
    return () => observer.disconnect();
  }, []);
  return [(node) => (element.current = node), width];
}
