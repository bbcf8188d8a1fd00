// The optional C version of the chunker's inner loop (native/cdc.c, in the same addon as
// the workspace scanner): about twice the JavaScript speed, identical cut points. Absent
// (no compiler at install, or DV_NATIVE=0), the JavaScript loop runs.
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

export interface NativeCdc {
  cdcSetGear(gear: Float64Array): void;
  cdcCut(buf: Buffer, offset: number, end: number, min: number, avg: number, max: number, maskS: number, maskL: number): number;
}

const ADDON = fileURLToPath(new URL('../../native/build/Release/dvscan.node', import.meta.url));

/** The addon with its gear table set, or null. */
export function loadNativeCdc(gear: Float64Array): NativeCdc | null {
  if (process.env.DV_NATIVE === '0') return null;
  try {
    const mod = createRequire(import.meta.url)(ADDON) as Partial<NativeCdc>;
    if (typeof mod.cdcCut !== 'function' || typeof mod.cdcSetGear !== 'function') return null;
    mod.cdcSetGear(gear);
    return mod as NativeCdc;
  } catch {
    return null;
  }
}
