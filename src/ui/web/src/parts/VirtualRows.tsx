// A list of `total` rows of fixed height, of which only the visible ones (plus a
// margin) are in the DOM, fetched from the server a page at a time as they scroll
// into view: a 10,000-datum run costs a few dozen DOM rows, not 10,000.
import type { ComponentChildren } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';

export interface VirtualRowsProps<T> {
  total: number;
  rowHeight: number;
  pageSize: number;
  /** Changes when the list changes (stage, filter): the cache is dropped. */
  listKey: string;
  fetchPage: (offset: number, limit: number) => Promise<T[]>;
  row: (item: T, index: number) => ComponentChildren;
  height?: number;
  testid?: string;
}

export function VirtualRows<T>(p: VirtualRowsProps<T>) {
  const box = useRef<HTMLDivElement>(null);
  const [top, setTop] = useState(0);
  const [, bump] = useState(0);
  const pages = useRef(new Map<number, T[] | 'loading'>());
  useEffect(() => { pages.current = new Map(); setTop(0); if (box.current) box.current.scrollTop = 0; bump((n) => n + 1); }, [p.listKey]);
  const height = Math.min(p.height ?? 480, Math.max(p.rowHeight, p.total * p.rowHeight) + 2);
  const first = Math.max(0, Math.floor(top / p.rowHeight) - 10);
  const last = Math.min(p.total, Math.ceil((top + height) / p.rowHeight) + 10);
  useEffect(() => {
    for (let pg = Math.floor(first / p.pageSize); pg * p.pageSize < last; pg++) {
      if (pages.current.has(pg)) continue;
      pages.current.set(pg, 'loading');
      const key = p.listKey;
      p.fetchPage(pg * p.pageSize, p.pageSize).then((items) => {
        if (key !== p.listKey) return;
        pages.current.set(pg, items);
        bump((n) => n + 1);
      }, () => pages.current.delete(pg));
    }
  });
  const rows: ComponentChildren[] = [];
  for (let i = first; i < last; i++) {
    const page = pages.current.get(Math.floor(i / p.pageSize));
    const item = Array.isArray(page) ? page[i % p.pageSize] : undefined;
    rows.push(
      <div key={i} class="vrow" style={{ top: `${i * p.rowHeight}px`, height: `${p.rowHeight}px` }}>
        {item === undefined ? <span class="muted">…</span> : p.row(item, i)}
      </div>,
    );
  }
  return (
    <div ref={box} class="vbox" style={{ height: `${height}px` }} data-testid={p.testid}
      onScroll={(e) => setTop((e.currentTarget as HTMLDivElement).scrollTop)}>
      <div style={{ height: `${p.total * p.rowHeight}px`, position: 'relative' }}>{rows}</div>
    </div>
  );
}
