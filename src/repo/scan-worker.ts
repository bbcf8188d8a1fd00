// Worker half of scan.ts: stats its share of the workspace and sends back packed numbers.
import { parentPort, workerData } from 'node:worker_threads';
import { fileMode, scanItems, type ScanItem } from './scan.js';

const { root, items } = workerData as { root: string; items: ScanItem[] };
const paths: string[] = [];
const nums: number[] = [];
scanItems(root, items, (rel, st) => {
  paths.push(rel);
  nums.push(st.size, st.mtimeMs, st.ino, fileMode(st.mode));
});
const packed = Float64Array.from(nums);
parentPort!.postMessage({ paths, nums: packed }, [packed.buffer]);
