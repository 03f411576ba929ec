// A virtualised list: only the rows in view (and a few around) are in the DOM, so 10,000
// executions or 2,000 task runs scroll as smoothly as 20.
import { useEffect, useRef, useState } from "preact/hooks";
import type { ComponentChildren } from "preact";

export function VirtualList<T>(props: {
  items: T[];
  rowHeight: number;
  height: number | string;
  row: (item: T, index: number) => ComponentChildren;
  testid?: string;
}) {
  const box = useRef<HTMLDivElement>(null);
  const [top, setTop] = useState(0);
  const [view, setView] = useState(600);
  useEffect(() => {
    const el = box.current;
    if (!el) return;
    setView(el.clientHeight || 600);
    const observer = new ResizeObserver(() => setView(el.clientHeight || 600));
    observer.observe(el);
    return () => observer.disconnect();
  }, []);
  const overscan = 10;
  const first = Math.max(0, Math.floor(top / props.rowHeight) - overscan);
  const last = Math.min(props.items.length, Math.ceil((top + view) / props.rowHeight) + overscan);
  const rows = [];
  for (let i = first; i < last; i++) {
    rows.push(
      <div class="vrow" key={i} style={{ position: "absolute", top: `${i * props.rowHeight}px`, height: `${props.rowHeight}px`, left: "0", right: "0" }}>
        {props.row(props.items[i], i)}
      </div>,
    );
  }
  return (
    <div
      ref={box}
      class="virtual"
      data-testid={props.testid}
      data-rows={props.items.length}
      style={{ height: typeof props.height === "number" ? `${props.height}px` : props.height, overflowY: "auto", position: "relative" }}
      onScroll={(e) => setTop((e.currentTarget as HTMLDivElement).scrollTop)}
    >
      <div style={{ height: `${props.items.length * props.rowHeight}px`, position: "relative" }}>{rows}</div>
    </div>
  );
}
