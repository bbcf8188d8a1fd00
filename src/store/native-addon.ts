// The optional C addon (native/*.c -> native/build/Release/dvscan.node, built by
// scripts/build-native.mjs at install). One module, loaded once; each of its parts
// (workspace scanner, chunker loop, process spawner, MD5 of many files at once) has a
// JavaScript twin that runs when the addon, or that part of it, is missing. DV_NATIVE=0
// turns it all off.
import fs from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

export const NATIVE_ADDON_PATH = fileURLToPath(new URL('../../native/build/Release/dvscan.node', import.meta.url));
const SQLITE_EXTENSION_PATH = fileURLToPath(new URL('../../native/build/Release/dvsqlite.node', import.meta.url));

let loaded: { addon: Record<string, unknown> | null; error: unknown } | undefined;

/** The addon's exports (null when it is not built or fails to load, with why), whatever DV_NATIVE says. */
export function loadNativeAddon(): { addon: Record<string, unknown> | null; error: unknown } {
  if (!loaded) {
    try {
      loaded = { addon: createRequire(import.meta.url)(NATIVE_ADDON_PATH) as Record<string, unknown>, error: null };
    } catch (error) {
      loaded = { addon: null, error };
    }
  }
  return loaded;
}

const nativeAllowed = (): boolean => process.env.DV_NATIVE !== '0';

/** The addon when native code is allowed (DV_NATIVE is not 0) and it loads, else null. */
export function nativeAddon(): Record<string, unknown> | null {
  return nativeAllowed() ? loadNativeAddon().addon : null;
}

/** The SQLite extension built beside the addon (native/sqlite-ext.c, loaded by db.ts) when
 * native code is allowed and it was built, else null. */
export function sqliteExtension(): string | null {
  return nativeAllowed() && fs.existsSync(SQLITE_EXTENSION_PATH) ? SQLITE_EXTENSION_PATH : null;
}
