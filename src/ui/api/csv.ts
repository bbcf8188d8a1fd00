// An incremental CSV/TSV record splitter (RFC 4180 quoting: "a ""b""" is a "b"; quoted
// fields may hold separators and newlines). Text arrives in pieces; complete records
// come out, the last partial one waits for more text or end().
export class CsvRows {
  private field = '';
  private row: string[] = [];
  private quoted = false;
  private afterQuote = false;

  constructor(private readonly sep = ',') {}

  push(text: string): string[][] {
    const out: string[][] = [];
    for (let i = 0; i < text.length; i++) {
      const c = text[i]!;
      if (this.quoted) {
        if (c === '"') { this.quoted = false; this.afterQuote = true; } else this.field += c;
        continue;
      }
      // A quote right after a closing one was a doubled (escaped) quote: no look-ahead,
      // so a "" cut between two pieces of text reads the same.
      if (c === '"' && this.afterQuote) { this.field += '"'; this.quoted = true; this.afterQuote = false; }
      else if (c === '"' && this.field === '') this.quoted = true;
      else if (c === this.sep) this.endField();
      else if (c === '\n') { this.endField(); out.push(this.row); this.row = []; }
      else if (c !== '\r') { this.field += c; this.afterQuote = false; }
    }
    return out;
  }

  end(): string[][] {
    if (this.field === '' && this.row.length === 0 && !this.afterQuote) return [];
    this.endField();
    const last = this.row;
    this.row = [];
    return [last];
  }

  private endField(): void {
    this.row.push(this.field);
    this.field = '';
    this.afterQuote = false;
  }
}

/** All records of a (small) text. */
export function parseCsv(text: string, sep = ','): string[][] {
  const r = new CsvRows(sep);
  return [...r.push(text), ...r.end()];
}
