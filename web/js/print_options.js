/**
 * Print options: what a person may ask of a re-make (`POST jobs/<id>/meshes`), named exactly as
 * the API names them (`structures`, `formats`, `hollow_mm`, `scale_percent` or
 * `longest_side_mm`, `smoothing`, `target_triangles`).
 *
 * Pure: no DOM, no requests. The server validates every option and has the last word; the page
 * only refuses what cannot be sent at all (an empty choice, a field that is not a number) and
 * shows the server's reason next to the option it names.
 */

/**
 * @typedef {object} Choice
 * @property {string} value the API's slug
 * @property {string} label what a person reads
 */

/** @type {Choice[]} Pieces a job can be printed as; the order of the form. */
export const STRUCTURE_CHOICES = [
  { value: 'brain', label: 'Whole brain' },
  { value: 'left_hemisphere', label: 'Left hemisphere' },
  { value: 'right_hemisphere', label: 'Right hemisphere' },
  { value: 'white_matter', label: 'White matter' },
  { value: 'ventricles', label: 'Ventricles' },
  { value: 'cerebellum_brainstem', label: 'Cerebellum and brainstem' },
];

/**
 * Pieces offered only where the job shows the service can make them (a model that labels
 * them), so the form never offers what every re-make would refuse.
 */
export const OPTIONAL_STRUCTURES = new Set(['cerebellum_brainstem']);

/** @type {Choice[]} Mesh file formats. */
export const FORMAT_CHOICES = [
  { value: 'stl', label: 'STL' },
  { value: 'obj', label: 'OBJ' },
  { value: 'ply', label: 'PLY' },
  { value: 'glb', label: 'GLB (coloured, for viewers)' },
  { value: '3mf', label: '3MF (coloured, one file for multi-material printers)' },
];

/**
 * @typedef {object} PrintOptions
 * @property {string[]} structures pieces to make
 * @property {string[]} formats file formats to write
 * @property {number} hollow_mm wall thickness in mm; 0 = solid
 * @property {'scale_percent'|'longest_side_mm'} size_by which size option applies
 * @property {number} scale_percent print size as a percentage of life size
 * @property {number} longest_side_mm print size as the longest side of the largest piece, in mm
 * @property {number} smoothing smoothing strength (the API's unit)
 * @property {number} target_triangles most triangles per piece
 */

/** @type {PrintOptions} What a job gets when nobody asks for anything else. */
export const DEFAULT_OPTIONS = {
  structures: ['brain', 'white_matter', 'ventricles'],
  formats: ['stl', 'glb', '3mf'],
  hollow_mm: 0,
  size_by: 'scale_percent',
  scale_percent: 100,
  longest_side_mm: 120,
  smoothing: 10,
  target_triangles: 200000,
};

/** Numeric options, with the words an error about them uses. */
const NUMBER_FIELDS = {
  hollow_mm: 'The wall thickness',
  scale_percent: 'The percentage of life size',
  longest_side_mm: 'The longest side',
  smoothing: 'The smoothing',
  target_triangles: 'The number of triangles',
};

/**
 * The form field an option's error is shown next to: both size options share one.
 * @param {string} option an option name, e.g. "scale_percent"
 * @returns {string} the field's key, e.g. "size"
 */
export function fieldOf(option) {
  return option === 'scale_percent' || option === 'longest_side_mm' ? 'size' : option;
}

/**
 * Which pieces the form offers for a job: the guaranteed ones, plus optional ones the job's
 * result shows the service can make.
 * @param {object|null|undefined} result `result` of a completed job's status
 * @returns {Choice[]}
 */
export function structureChoices(result) {
  const made = new Set(
    (result && Array.isArray(result.structures) ? result.structures : []).map((s) =>
      String(s.name),
    ),
  );
  const offered = new Set(
    result && result.options && Array.isArray(result.options.available_structures)
      ? result.options.available_structures.map(String)
      : [],
  );
  return STRUCTURE_CHOICES.filter(
    (c) => !OPTIONAL_STRUCTURES.has(c.value) || made.has(c.value) || offered.has(c.value),
  );
}

/**
 * A number from the job's recorded options, or the fallback.
 * @param {unknown} value recorded value
 * @param {number} fallback default
 * @returns {number}
 */
function numberOr(value, fallback) {
  const n = Number(value);
  return value !== null && value !== undefined && value !== '' && Number.isFinite(n)
    ? n
    : fallback;
}

/**
 * The options a job was made with, as its report.json records them (`print_options`), or as
 * its status's result does where it carries them.
 * @param {object|null|undefined} result `result` of a completed job's status
 * @param {object|null|undefined} report its parsed report.json, if read
 * @returns {object} the recorded options; empty when none are known
 */
function recordedOptions(result, report) {
  for (const source of [report, result]) {
    if (source && source.print_options && typeof source.print_options === 'object') {
      return source.print_options;
    }
  }
  return {};
}

/**
 * The form's starting values for a completed job: the options it was made with where they
 * are recorded, the pieces it holds and the defaults otherwise.
 * @param {object|null|undefined} result `result` of a completed job's status
 * @param {object|null} [report] its parsed report.json, once read
 * @returns {PrintOptions}
 */
export function optionsFromResult(result, report = null) {
  const recorded = recordedOptions(result, report);
  const values = { ...DEFAULT_OPTIONS };
  const made = result && Array.isArray(result.structures) ? result.structures : [];
  const known = new Set(STRUCTURE_CHOICES.map((c) => c.value));
  const structures = Array.isArray(recorded.structures)
    ? recorded.structures.map(String)
    : made.map((s) => String(s.name));
  if (structures.some((name) => known.has(name))) {
    values.structures = structures.filter((name) => known.has(name));
  }
  const formats = Array.isArray(recorded.formats) ? recorded.formats.map(String) : [];
  const knownFormats = new Set(FORMAT_CHOICES.map((c) => c.value));
  if (formats.some((f) => knownFormats.has(f))) {
    values.formats = formats.filter((f) => knownFormats.has(f));
  }
  values.hollow_mm = numberOr(recorded.hollow_mm, values.hollow_mm);
  values.smoothing = numberOr(recorded.smoothing, values.smoothing);
  values.target_triangles = numberOr(recorded.target_triangles, values.target_triangles);
  if (numberOr(recorded.longest_side_mm, 0) > 0) {
    values.size_by = 'longest_side_mm';
    values.longest_side_mm = numberOr(recorded.longest_side_mm, values.longest_side_mm);
  } else {
    values.scale_percent = numberOr(recorded.scale_percent, values.scale_percent);
  }
  return values;
}

/**
 * @typedef {object} FormValues what the form holds, as text where a person types
 * @property {string[]} structures checked pieces
 * @property {string[]} formats checked formats
 * @property {string} size_by "scale_percent" or "longest_side_mm"
 * @property {string} hollow_mm
 * @property {string} scale_percent
 * @property {string} longest_side_mm
 * @property {string} smoothing
 * @property {string} target_triangles
 */

/**
 * The JSON body of a re-make, or the reasons it cannot be sent, keyed by form field.
 * Only the chosen size option is sent.
 * @param {FormValues} form the form's values
 * @returns {{body: object|null, errors: Record<string, string>}}
 */
export function buildRequest(form) {
  /** @type {Record<string, string>} */
  const errors = {};
  if (form.structures.length === 0) {
    errors.structures = 'Choose at least one piece.';
  }
  if (form.formats.length === 0) {
    errors.formats = 'Choose at least one file format.';
  }
  const sizeOption = form.size_by === 'longest_side_mm' ? 'longest_side_mm' : 'scale_percent';
  const numbers = {};
  for (const name of ['hollow_mm', sizeOption, 'smoothing', 'target_triangles']) {
    const text = String(form[name] ?? '').trim();
    const value = Number(text);
    if (text === '' || !Number.isFinite(value)) {
      errors[fieldOf(name)] = `${NUMBER_FIELDS[name]} must be a number.`;
    } else {
      numbers[name] = value;
    }
  }
  if (Object.keys(errors).length > 0) {
    return { body: null, errors };
  }
  return {
    body: {
      structures: [...form.structures],
      formats: [...form.formats],
      hollow_mm: numbers.hollow_mm,
      [sizeOption]: numbers[sizeOption],
      smoothing: numbers.smoothing,
      target_triangles: numbers.target_triangles,
    },
    errors,
  };
}

/** Every option name, longest first so "longest_side_mm" is not read as a shorter one. */
const OPTION_NAMES = [
  'structures',
  'formats',
  'hollow_mm',
  'scale_percent',
  'longest_side_mm',
  'smoothing',
  'target_triangles',
].sort((a, b) => b.length - a.length);

/**
 * The form field a refused re-make is about: the option the server's error names (its
 * `option` or `field` member, else the first option name in its message), or null when the
 * error is about no single option.
 * @param {{option?: string|null, message?: string}} err the refusal
 * @returns {string|null} a field key (see {@link fieldOf})
 */
export function fieldOfError(err) {
  if (err && typeof err.option === 'string' && OPTION_NAMES.includes(err.option)) {
    return fieldOf(err.option);
  }
  const message = err && typeof err.message === 'string' ? err.message : '';
  const found = OPTION_NAMES.find((name) => new RegExp(`\\b${name}\\b`).test(message));
  return found ? fieldOf(found) : null;
}
