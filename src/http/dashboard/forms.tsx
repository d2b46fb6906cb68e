import { ValidationError } from '../../core/errors.ts';
import type { AnyTask } from '../../core/task.ts';
import { type JsonSchema, paramsSchemaOf } from '../task-schemas.ts';

/** A start form as the person left it: what they typed, and what was wrong with it, by field. */
export interface FormState {
  task: string;
  values: Record<string, string>;
  /** Field name → message; `''` for a problem with the params as a whole. */
  errors: Record<string, string>;
}

type Kind = 'text' | 'secret' | 'number' | 'integer' | 'boolean' | 'choice' | 'json';

interface Field {
  name: string;
  kind: Kind;
  required: boolean;
  description: string | null;
  choices: string[];
  defaultValue: unknown;
  schema: JsonSchema;
}

/** The form fields for a task's params, from its JSON Schema: one per top-level property. */
export function fieldsOf(task: AnyTask): Field[] {
  const schema = paramsSchemaOf(task);
  const properties = (schema.properties ?? {}) as Record<string, JsonSchema>;
  const required = new Set((schema.required ?? []) as string[]);
  return Object.entries(properties).map(([name, prop]) => ({
    name,
    kind: kindOf(prop),
    // A field with a default may be left empty: the default fills it in.
    required: required.has(name) && prop.default === undefined,
    description: typeof prop.description === 'string' ? prop.description : null,
    choices: Array.isArray(prop.enum) ? prop.enum.map(String) : [],
    defaultValue: prop.default,
    schema: prop,
  }));
}

function kindOf(prop: JsonSchema): Kind {
  if (prop.secret === true || prop.writeOnly === true) return 'secret';
  if (Array.isArray(prop.enum) && prop.enum.every((v) => typeof v === 'string')) return 'choice';
  switch (prop.type) {
    case 'string':
      return 'text';
    case 'number':
      return 'number';
    case 'integer':
      return 'integer';
    case 'boolean':
      return 'boolean';
    default:
      return 'json';
  }
}

/**
 * Turns what a form sent into params: empty fields are left out (so defaults apply), numbers
 * are numbers, a checkbox is true when sent, anything else is typed as JSON. Throws a
 * ValidationError naming the field when a value cannot be read at all.
 */
export function paramsFromForm(task: AnyTask, form: Record<string, string>): Record<string, unknown> {
  const params: Record<string, unknown> = {};
  const issues: string[] = [];
  for (const field of fieldsOf(task)) {
    const raw = form[`p.${field.name}`];
    if (field.kind === 'boolean') {
      params[field.name] = raw !== undefined;
      continue;
    }
    if (raw === undefined || raw.trim() === '') continue;
    if (field.kind === 'number' || field.kind === 'integer') {
      const n = Number(raw);
      if (Number.isFinite(n)) params[field.name] = n;
      else issues.push(`params.${field.name}: Enter a number.`);
    } else if (field.kind === 'json') {
      try {
        params[field.name] = JSON.parse(raw);
      } catch {
        issues.push(`params.${field.name}: Enter valid JSON.`);
      }
    } else {
      params[field.name] = raw;
    }
  }
  if (issues.length > 0) throw new ValidationError(`The params for task "${task.name}" are not valid.`, issues);
  return params;
}

/** Sorts a ValidationError's `params.field: reason` lines onto the fields they are about. */
export function errorsByField(error: ValidationError): Record<string, string> {
  const out: Record<string, string> = {};
  for (const issue of error.issues) {
    const match = /^params(?:\.([^.:]+)[^:]*)?: (.*)$/.exec(issue);
    const field = match?.[1] ?? '';
    const text = match?.[2] ?? issue;
    out[field] = out[field] ? `${out[field]} ${text}` : text;
  }
  if (Object.keys(out).length === 0) out[''] = error.message;
  return out;
}

export interface StartFormProps {
  task: AnyTask;
  action: string;
  csrf: string;
  state?: FormState | undefined;
}

/**
 * A start form for one task. A plain POST: the dashboard validates, starts the job and answers
 * 303 to its page, or draws the form again with each message next to its field.
 */
export function StartForm({ task, action, csrf, state }: StartFormProps) {
  const mine = state?.task === task.name ? state : undefined;
  const id = (name: string) => `f-${task.name}-${name}`.replace(/[^A-Za-z0-9_-]/g, '-');
  const general = mine?.errors[''];
  // Folded to its button until opened, so the list stays near the top; open when it has errors.
  return (
    <details class="uw-start" open={mine !== undefined}>
      <summary class="uw-button">Start {task.name}…</summary>
      <form method="post" action={action} class="uw-card" data-task={task.name} novalidate>
        <h3>{task.name}</h3>
        {task.description && <p class="uw-muted">{task.description}</p>}
        <input type="hidden" name="_csrf" value={csrf} />
        <input type="hidden" name="task" value={task.name} />
        {general && (
          <p class="uw-field-error" role="alert">
            {general}
          </p>
        )}
        {fieldsOf(task).map((field) => {
          const error = mine?.errors[field.name];
          const value = mine ? (mine.values[`p.${field.name}`] ?? '') : defaultText(field);
          const errorId = `${id(field.name)}-error`;
          const described = error ? errorId : undefined;
          return (
            <div class="uw-field">
              {field.kind === 'boolean' ? (
                <label>
                  <input
                    type="checkbox"
                    name={`p.${field.name}`}
                    id={id(field.name)}
                    checked={mine ? mine.values[`p.${field.name}`] !== undefined : field.defaultValue === true}
                    aria-describedby={described}
                  />{' '}
                  {field.name}
                </label>
              ) : (
                <label for={id(field.name)}>
                  {field.name}
                  {field.required ? ' (required)' : ''}
                  {field.description && <span class="uw-hint"> — {field.description}</span>}
                </label>
              )}
              {field.kind !== 'boolean' && (
                <Input field={field} id={id(field.name)} value={value} invalid={!!error} described={described} />
              )}
              {error && (
                <p class="uw-field-error" id={errorId}>
                  {error}
                </p>
              )}
            </div>
          );
        })}
        <p>
          <button type="submit">Start {task.name}</button>
        </p>
      </form>
    </details>
  );
}

function defaultText(field: Field): string {
  if (field.defaultValue === undefined || field.kind === 'secret') return '';
  return field.kind === 'json' ? JSON.stringify(field.defaultValue) : String(field.defaultValue);
}

function Input(props: { field: Field; id: string; value: string; invalid: boolean; described: string | undefined }) {
  const { field, id, value, invalid, described } = props;
  const common = {
    id,
    name: `p.${field.name}`,
    'aria-invalid': invalid ? 'true' : undefined,
    'aria-describedby': described,
    required: field.required,
  };
  if (field.kind === 'choice') {
    return (
      <select {...common}>
        {!field.required && <option value="">—</option>}
        {field.choices.map((choice) => (
          <option value={choice} selected={choice === value}>
            {choice}
          </option>
        ))}
      </select>
    );
  }
  if (field.kind === 'json')
    return (
      <textarea {...common} rows={3}>
        {value}
      </textarea>
    );
  const type = field.kind === 'secret' ? 'password' : field.kind === 'text' ? 'text' : 'number';
  const step = field.kind === 'integer' ? '1' : field.kind === 'number' ? 'any' : undefined;
  return <input {...common} type={type} step={step} value={field.kind === 'secret' ? '' : value} autocomplete="off" />;
}
