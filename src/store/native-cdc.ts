// The optional C version of the chunker's inner loop (native/cdc.c, in the same addon as
// the workspace scanner): 5-6x the JavaScript speed, identical cut points. Absent
// (no compiler at install, or DV_NATIVE=0), the JavaScript loop runs.
import { nativeAddon } from './native-addon.js';

export interface NativeCdc {
  cdcSetGear(gear: Float64Array): void;
  cdcCut(buf: Buffer, offset: number, end: number, min: number, avg: number, max: number, maskS: number, maskL: number): number;
}

/** The addon with its gear table set, or null. */
export function loadNativeCdc(gear: Float64Array): NativeCdc | null {
  const mod = nativeAddon() as Partial<NativeCdc> | null;
  if (typeof mod?.cdcCut !== 'function' || typeof mod.cdcSetGear !== 'function') return null;
  try {
    mod.cdcSetGear(gear);
  } catch {
    return null;
  }
  return mod as NativeCdc;
}
