// Worker half of scan.ts: stats its share of the workspace and sends back packed numbers.
import { parentPort, workerData } from 'node:worker_threads';
import { DvError } from '../store/errors.js';
import { fileMode, scanItems, type ScanItem } from './scan.js';

const { root, items } = workerData as { root: string; items: ScanItem[] };
const paths: string[] = [];
const nums: number[] = [];
try {
  scanItems(root, items, (rel, st) => {
    paths.push(rel);
    nums.push(st.size, st.mtimeMs, st.ino, fileMode(st.mode));
  });
} catch (e) {
  // A refused name (DvError) travels as its message; the class does not cross threads.
  if (!(e instanceof DvError)) throw e;
  parentPort!.postMessage({ error: e.message });
  process.exit(0);
}
const packed = Float64Array.from(nums);
parentPort!.postMessage({ paths, nums: packed }, [packed.buffer]);
