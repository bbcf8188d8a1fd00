// A project for the console tests, made with the real CLI: three commits (one by a
// pipeline run), a tag, a branch, a run with a failed datum (and its log), CSV, JSON,
// text, PNG and Parquet files; and `dv ui` / `dv serve --ui` started on a free loopback port.
import zlib from 'node:zlib';
import { parquetWriteBuffer } from 'hyparquet-writer';
import { dv, dvOk, spawnDv, waitFor, writeFile, type DvProcess } from '../helpers/cli.js';

export const DV_YAML = `
params: { threshold: 3 }
stages:
  clean:
    foreach: data/raw/*.csv
    cmd: sh clean.sh \${in} \${out}
    deps: [clean.sh]
    outs: data/clean/
  report:
    cmd: sh report.sh data/clean \${out}
    deps: [report.sh, data/clean]
    outs: [data/report.txt]
`;

// A datum fails while a file named fail-<day> exists.
const CLEAN_SH = `day=$(basename "$1" .csv)
echo "cleaning $day"
if [ -e "fail-$day" ]; then echo "bad row in $day" >&2; exit 4; fi
tr a-z A-Z < "$1" > "$2"
`;
const REPORT_SH = 'cat "$1"/*.csv | wc -l > "$2"\n';

/** A 2x2 PNG, made here so no binary file is committed. */
export function png(): Buffer {
  const crc = (b: Buffer): number => {
    let c = ~0;
    for (const x of b) { c ^= x; for (let k = 0; k < 8; k++) c = (c >>> 1) ^ (0xedb88320 & -(c & 1)); }
    return ~c >>> 0;
  };
  const chunk = (type: string, data: Buffer): Buffer => {
    const td = Buffer.concat([Buffer.from(type, 'ascii'), data]);
    const out = Buffer.alloc(12 + data.length);
    out.writeUInt32BE(data.length, 0);
    td.copy(out, 4);
    out.writeUInt32BE(crc(td), 8 + data.length);
    return out;
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(2, 0); ihdr.writeUInt32BE(2, 4); ihdr[8] = 8; ihdr[9] = 2;
  const rows = Buffer.from([0, 255, 0, 0, 0, 0, 255, 0, 0, 255, 0, 255, 255, 255]);
  return Buffer.concat([Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]), chunk('IHDR', ihdr), chunk('IDAT', zlib.deflateSync(rows)), chunk('IEND', Buffer.alloc(0))]);
}

export interface UiProject {
  root: string;
  /** The run that failed on data/raw/2024-01-04.csv. */
  failedRun: string;
  goodRun: string;
}

export async function makeProject(root: string): Promise<UiProject> {
  await dvOk(root, ['init']);
  writeFile(root, 'dv.yaml', DV_YAML);
  writeFile(root, 'clean.sh', CLEAN_SH);
  writeFile(root, 'report.sh', REPORT_SH);
  for (const d of ['01', '02', '03']) writeFile(root, `data/raw/2024-01-${d}.csv`, `city,temp\nparis,${d}\nrome,2${d}\n`);
  writeFile(root, 'data/info.json', '{"source":"station feed","units":{"temp":"C"}}');
  writeFile(root, 'data/notes.txt', 'Readings from three stations.\n');
  writeFile(root, 'data/pixel.png', png());
  writeFile(root, 'data/readings.parquet', new Uint8Array(parquetWriteBuffer({
    columnData: [{ name: 'city', data: ['paris', 'rome', 'oslo'], type: 'STRING' }, { name: 'temp', data: [12, 21, -5], type: 'INT32' }],
  })));
  await dvOk(root, ['add', 'data', '-m', 'raw readings']);
  await dvOk(root, ['tag', 'v1']);
  await dvOk(root, ['run']);
  writeFile(root, 'data/raw/2024-01-02.csv', 'city,temp\nparis,02\noslo,-5\n');
  writeFile(root, 'data/raw/2024-01-04.csv', 'city,temp\nparis,04\n');
  await dvOk(root, ['commit', '-m', 'fix day 2, add day 4']);
  await dvOk(root, ['branch', 'dev']);
  writeFile(root, 'fail-2024-01-04', '');
  const failed = await dv(root, ['run']);
  if (failed.code === 0) throw new Error('the run meant to fail succeeded');
  const runs = JSON.parse((await dvOk(root, ['runs', '--json'])).stdout) as { id: string; status: string }[];
  return { root, failedRun: runs.find((r) => r.status === 'failed')!.id, goodRun: runs.find((r) => r.status === 'succeeded')!.id };
}

export interface RunningUi {
  proc: DvProcess;
  /** e.g. http://127.0.0.1:PORT/ui/ */
  url: string;
  stop(): Promise<void>;
}

/** Starts `dv ARGS` (ui, or serve --ui) and waits for the ui: line. */
export async function startUi(root: string, args: string[]): Promise<RunningUi> {
  const proc = spawnDv(root, args);
  let out = '';
  proc.child.stdout!.on('data', (b: Buffer) => { out += b.toString('utf8'); });
  await waitFor(() => /ui: +http:\/\/\S+\/ui\//.test(out) || proc.exited(), 20_000);
  const m = /ui: +(http:\/\/\S+\/ui\/)/.exec(out);
  if (!m) throw new Error(`dv ${args.join(' ')} did not print its ui address: ${out}${(await proc.done).stderr}`);
  return {
    proc, url: m[1]!,
    stop: async () => { proc.child.kill('SIGTERM'); await proc.done; },
  };
}
