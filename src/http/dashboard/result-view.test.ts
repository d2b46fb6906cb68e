import { describe, expect, it } from 'vitest';
import { ResultView } from './result-view.tsx';

const html = (value: unknown) => String(ResultView({ value }));

describe('ResultView: a result, readably, with the raw JSON behind a toggle', () => {
  it('shows a scalar as text, a flat object as a definition list, flat rows as a table', () => {
    expect(html('done <b>')).toMatch(/^<p class="uw-result-text">done &lt;b&gt;<\/p><details class="uw-raw">/);
    expect(html({ rows: 3, ok: true, note: null })).toContain(
      '<dl class="uw-facts uw-result"><dt>rows</dt><dd>3</dd><dt>ok</dt><dd>true</dd><dt>note</dt><dd>—</dd></dl>',
    );
    const table = html([
      { name: 'a.txt', size: 1 },
      { name: 'b.txt', mode: 'r' },
    ]);
    expect(table).toContain('<th scope="col">name</th><th scope="col">size</th><th scope="col">mode</th>');
    expect(table).toContain('<tr><td>b.txt</td><td></td><td>r</td></tr>');
    expect(table).toContain('<summary>Raw JSON</summary>');
  });

  it('shows anything else, and an empty object, as the JSON alone', () => {
    for (const value of [{ nested: { a: 1 } }, [1, 2], [{ a: { b: 1 } }], {}]) {
      const out = html(value);
      expect(out).toMatch(/^<section aria-label="Result"><pre tabindex="0">/);
      expect(out).not.toContain('uw-raw');
    }
  });

  it('shows bidi controls instead of obeying them', () => {
    expect(html({ file: 'invoice\u202Ecod.exe' })).toContain('<dd>invoice\\u202ecod.exe</dd>');
  });
});
