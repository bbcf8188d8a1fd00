// XML text escaping and entity decoding shared by responses and request parsing.

export const XML_DECL = '<?xml version="1.0" encoding="UTF-8"?>\n';

/**
 * Escape text for element content. Control characters become character references
 * because a raw CR would be normalised away by parsers and the others are not legal
 * XML 1.0 text; clients that care about such keys ask for encoding-type=url.
 */
export function escapeXml(s: string): string {
  return s.replace(/[&<>"'\u0000-\u0008\u000b\u000c\u000d\u000e-\u001f]/g, (c) => {
    switch (c) {
      case '&': return '&amp;';
      case '<': return '&lt;';
      case '>': return '&gt;';
      case '"': return '&quot;';
      case "'": return '&apos;';
      default: return `&#x${c.charCodeAt(0).toString(16).toUpperCase()};`;
    }
  });
}

const NAMED: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

/** Decode the five predefined entities and numeric references; null if any is unknown or invalid. */
export function decodeXmlEntities(s: string): string | null {
  if (!s.includes('&')) return s;
  let bad = false;
  const out = s.replace(/&([^&;]{0,10})(;?)/g, (_m, body: string, semi: string) => {
    let ch: string | undefined;
    if (!semi) ch = undefined;
    else if (/^#x[0-9a-fA-F]{1,6}$/.test(body)) ch = fromCodePoint(parseInt(body.slice(2), 16));
    else if (/^#[0-9]{1,7}$/.test(body)) ch = fromCodePoint(parseInt(body.slice(1), 10));
    else ch = NAMED[body];
    if (ch === undefined) bad = true;
    return ch ?? '';
  });
  return bad ? null : out;
}

function fromCodePoint(cp: number): string | undefined {
  if (cp === 0 || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return undefined;
  return String.fromCodePoint(cp);
}
