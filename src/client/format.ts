import { type DurationParts, durationParts, type NumberWords, progressView } from '../core/format.ts';
import type { JobProgress, JobStatus } from './types.ts';

export type { NumberWords, ProgressView } from '../core/format.ts';
export { humanDuration, progressView, stepCaption } from '../core/format.ts';

/** Intl.DurationFormat (Chromium 129, Safari 16.4, Firefox 136): not in TypeScript's ES2023 lib yet. */
type DurationFormatConstructor = new (
  locale: string,
  options: { style: 'short' },
) => {
  format(duration: DurationParts): string;
};

const UNITS = { days: 'day', hours: 'hour', minutes: 'minute', seconds: 'second' } as const;

/**
 * Numbers and durations as `locale` writes them: "7%" in English, "7 %" in German, "3 min, 5 sec"
 * (Intl.DurationFormat, or where there is none "3 min 5 sec" from Intl.NumberFormat's units).
 * The words around them ("step … of …", "about … left") stay English, as the server wrote them.
 */
export function intlNumbers(locale: string): NumberWords {
  const percent = new Intl.NumberFormat(locale, { style: 'percent', maximumFractionDigits: 0 });
  const count = new Intl.NumberFormat(locale);
  const DurationFormat = (Intl as { DurationFormat?: DurationFormatConstructor }).DurationFormat;
  const durations = DurationFormat ? new DurationFormat(locale, { style: 'short' }) : null;
  const units = new Map(
    durations
      ? []
      : Object.entries(UNITS).map(([part, unit]) => [
          part,
          new Intl.NumberFormat(locale, { style: 'unit', unit, unitDisplay: 'short' }),
        ]),
  );
  return {
    percent: (value) => percent.format(value / 100),
    count: (n) => count.format(n),
    duration(seconds) {
      const parts = durationParts(seconds);
      if (durations) return durations.format(parts);
      return Object.entries(parts)
        .map(([part, n]) => units.get(part)?.format(n))
        .join(' ');
    },
  };
}

let browser: { locale: string; words: NumberWords } | null = null;

/** The browser's language's words, made once: a bar may be repainted thousands of times. */
export function browserNumbers(): NumberWords {
  const locale = typeof navigator === 'undefined' ? 'en' : navigator.language;
  if (browser?.locale !== locale) browser = { locale, words: intlNumbers(locale) };
  return browser.words;
}

const PARTS = ['percent', 'step', 'eta', 'message'] as const;

/**
 * Draws a job's progress into `container`: a `<progress>` and the caption spans, as the server
 * renders them (created when missing), the numbers in the browser's language. Text goes in
 * through textContent only, never as HTML.
 */
export function paintProgress(
  container: HTMLElement,
  job: { task?: string; status: JobStatus; progress: JobProgress | null; cancelRequested: boolean },
  words: NumberWords = browserNumbers(),
): void {
  const doc = container.ownerDocument;
  let bar = container.querySelector('progress');
  if (!bar) {
    bar = doc.createElement('progress');
    bar.max = 100;
    bar.setAttribute('aria-label', job.task ? `Progress of ${job.task}` : 'Progress');
    const caption = doc.createElement('span');
    caption.className = 'uw-caption';
    caption.setAttribute('aria-hidden', 'true');
    for (const part of PARTS) {
      const span = doc.createElement('span');
      span.className = `uw-${part}`;
      caption.append(span, ' ');
    }
    // First, as the server renders them: before a Cancel button or a note the element added.
    container.prepend(bar, caption);
  }
  const view = progressView(job, words);
  // No value attribute at all is what makes a <progress> indeterminate.
  if (view.value === null) bar.removeAttribute('value');
  else bar.value = view.value;
  bar.hidden = !view.bar;
  bar.textContent = view.percent;
  bar.setAttribute('aria-valuetext', view.label);
  for (const part of PARTS) {
    const span = container.querySelector(`.uw-${part}`);
    if (span) span.textContent = view[part];
  }
  container.dataset.status = job.status;
}
