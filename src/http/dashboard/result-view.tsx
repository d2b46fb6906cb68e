import { visibleBidi } from '../../core/format.ts';
import { JsonView } from './parts.tsx';

/**
 * A job's result, readably: a scalar as text, a flat object as a definition list, an array of flat
 * objects as a table; anything else as indented JSON. The raw JSON is always one click away.
 */

type Scalar = string | number | boolean | null;
type Flat = Record<string, Scalar>;

/** Rows and columns past these are left to the raw JSON (the page stays light for a huge result). */
const MAX_ROWS = 200;
const MAX_COLUMNS = 12;

const isScalar = (value: unknown): value is Scalar =>
  value === null || ['string', 'number', 'boolean'].includes(typeof value);
const isFlat = (value: unknown): value is Flat =>
  typeof value === 'object' && value !== null && !Array.isArray(value) && Object.values(value).every(isScalar);
const text = (value: Scalar) => visibleBidi(value === null ? '—' : String(value));

export function ResultView({ value }: { value: unknown }) {
  const raw = <JsonView value={value} label="Result" />;
  const readable = readableView(value);
  if (!readable) return raw;
  return (
    <>
      {readable}
      <details class="uw-raw">
        <summary>Raw JSON</summary>
        {raw}
      </details>
    </>
  );
}

function readableView(value: unknown) {
  if (isScalar(value)) return <p class="uw-result-text">{text(value)}</p>;
  if (isFlat(value) && Object.keys(value).length > 0) {
    return (
      <dl class="uw-facts uw-result">
        {Object.entries(value).map(([key, item]) => (
          <>
            <dt>{visibleBidi(key)}</dt>
            <dd>{text(item)}</dd>
          </>
        ))}
      </dl>
    );
  }
  if (Array.isArray(value) && value.length > 0 && value.length <= MAX_ROWS && value.every(isFlat)) {
    const columns = [...new Set(value.flatMap((row) => Object.keys(row)))];
    if (columns.length === 0 || columns.length > MAX_COLUMNS) return null;
    return (
      <section class="uw-table-scroll" aria-label="Result table" tabindex={0}>
        <table class="uw-result-table">
          <thead>
            <tr>
              {columns.map((column) => (
                <th scope="col">{visibleBidi(column)}</th>
              ))}
            </tr>
          </thead>
          <tbody>
            {value.map((row) => (
              <tr>
                {columns.map((column) => (
                  <td>{column in row ? text(row[column] ?? null) : ''}</td>
                ))}
              </tr>
            ))}
          </tbody>
        </table>
      </section>
    );
  }
  return null;
}
