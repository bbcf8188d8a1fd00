// The console's two pieces of pure logic: the streaming CSV splitter (quotes, pieces
// cut anywhere) and the timeline placement of datums from a run record.
import { describe, expect, it } from 'vitest';
import { CsvRows, parseCsv } from '../../src/ui/api/csv.js';
import { schedule } from '../../src/ui/api/timeline.js';
import type { RunRecord } from '../../src/pipeline/types.js';

describe('CsvRows', () => {
  const text = 'a,b,c\r\n1,"x, y","he said ""hi"""\n2,"multi\nline",\n3,,last';
  const want = [['a', 'b', 'c'], ['1', 'x, y', 'he said "hi"'], ['2', 'multi\nline', ''], ['3', '', 'last']];

  it('splits records with quoting', () => expect(parseCsv(text)).toEqual(want));

  it('gives the same records whatever the pieces the text arrives in', () => {
    for (const size of [1, 2, 3, 7]) {
      const r = new CsvRows();
      const rows: string[][] = [];
      for (let i = 0; i < text.length; i += size) rows.push(...r.push(text.slice(i, i + size)));
      rows.push(...r.end());
      expect(rows, `pieces of ${size}`).toEqual(want);
    }
  });

  it('splits TSV and ignores a final newline', () => expect(parseCsv('a\tb\n1\t2\n', '\t')).toEqual([['a', 'b'], ['1', '2']]));
});

describe('schedule', () => {
  const datum = (id: string, durationMs: number, startedAt?: string) => ({
    id, status: 'succeeded', reasons: [], cmd: '', cacheKey: '', inputHash: null, deps: {}, outputs: {}, exitCode: 0,
    attempts: 1, durationMs, log: null, error: null, ...(startedAt ? { startedAt } : {}),
  });
  const record = (jobs: number, stages: { name: string; datums: ReturnType<typeof datum>[] }[]): RunRecord => ({
    startedAt: '2026-01-01T00:00:00.000Z', options: { jobs, stages: [], force: false, backfill: null },
    stages: stages.map((s) => ({ ...s, cmd: '', params: {}, status: 'succeeded', counts: { run: 0, cached: 0, reused: 0, removed: 0, failed: 0 } })),
  } as unknown as RunRecord);

  it('places datums on the first free of N workers, stage after stage', () => {
    const s = schedule(record(2, [
      { name: 'a', datums: [datum('1', 100), datum('2', 30), datum('3', 50)] },
      { name: 'b', datums: [datum('4', 10)] },
    ]));
    expect(s.get('a')!.map((x) => [x.startMs, x.lane])).toEqual([[0, 0], [0, 1], [30, 1]]);
    expect(s.get('b')!.map((x) => [x.startMs, x.estimated])).toEqual([[100, true]]);
  });

  it('uses a recorded start time when the record has one', () => {
    const s = schedule(record(1, [{ name: 'a', datums: [datum('1', 10, '2026-01-01T00:00:02.500Z')] }]));
    expect(s.get('a')![0]).toMatchObject({ startMs: 2500, estimated: false });
  });

  it('stacks recorded datums on lanes in order of start, whatever their order in the record', () => {
    const at = (ms: number): string => new Date(Date.parse('2026-01-01T00:00:00.000Z') + ms).toISOString();
    const s = schedule(record(2, [
      { name: 'a', datums: [datum('1', 100, at(120)), datum('2', 100, at(0)), datum('3', 50, at(40)), datum('4', 10, at(100))] },
      { name: 'b', datums: [datum('5', 10, at(300))] },
    ]));
    // 2 runs 0-100 on lane 0, 3 runs 40-90 beside it on lane 1, 4 reuses lane 0 at 100-110, 1 takes the first lane free at 120.
    expect(s.get('a')!.map((x) => [x.startMs, x.lane, x.estimated])).toEqual([[120, 0, false], [0, 0, false], [40, 1, false], [100, 0, false]]);
    expect(s.get('b')![0]).toMatchObject({ startMs: 300, lane: 0, estimated: false });
  });
});
