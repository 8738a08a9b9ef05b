/** One sample of a Prometheus text exposition: name, labels and value. */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Values as Prometheus reads them (Go's ParseFloat: NaN and Inf in any case). */
const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? ([+-]?(?:\d+(?:\.\d+)?(?:e[+-]?\d+)?|nan|inf))(?: -?\d+)?$/i;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(?:,|$)/y;
const TYPES = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped']);

/**
 * Parses Prometheus text format 0.0.4 strictly: every line is a HELP, a TYPE or a sample, every sample
 * belongs to a metric with a TYPE (histogram and summary samples by their suffixes), labels are well
 * formed. Throws, naming the line, on anything else.
 */
export function parsePrometheusText(text: string): Sample[] {
  const types = new Map<string, string>();
  const samples: Sample[] = [];
  if (!text.endsWith('\n')) throw new Error('The exposition must end with a line feed');
  for (const line of text.slice(0, -1).split('\n')) {
    if (line === '') continue;
    const comment = /^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$/.exec(line);
    if (comment) {
      if (comment[1] === 'TYPE') {
        if (!TYPES.has(comment[3])) throw new Error(`Unknown type in: ${line}`);
        types.set(comment[2], comment[3]);
      }
      continue;
    }
    if (line.startsWith('#')) throw new Error(`Malformed comment: ${line}`);
    const match = SAMPLE.exec(line);
    if (!match) throw new Error(`Malformed sample: ${line}`);
    const [, name, rawLabels = '', rawValue] = match;
    const family = [name, name.replace(/_(bucket|sum|count|total|created)$/, '')].find((n) => types.has(n));
    if (!family) throw new Error(`Sample of a metric with no TYPE: ${line}`);
    const labels: Record<string, string> = {};
    LABEL.lastIndex = 0;
    while (LABEL.lastIndex < rawLabels.length) {
      const label = LABEL.exec(rawLabels);
      if (!label) throw new Error(`Malformed labels: ${line}`);
      labels[label[1]] = label[2].replace(/\\n/g, '\n').replace(/\\"/g, '"').replace(/\\\\/g, '\\');
    }
    const value = /nan/i.test(rawValue) ? NaN : /inf/i.test(rawValue) ? (rawValue.startsWith('-') ? -Infinity : Infinity) : Number(rawValue);
    samples.push({ name, labels, value });
  }
  return samples;
}

/** The value of the sample with this name and these labels (all of them); undefined when absent. */
export function sampleValue(samples: Sample[], name: string, labels: Record<string, string> = {}): number | undefined {
  const wanted = Object.entries(labels);
  return samples.find((s) => s.name === name && Object.keys(s.labels).length === wanted.length && wanted.every(([k, v]) => s.labels[k] === v))?.value;
}
