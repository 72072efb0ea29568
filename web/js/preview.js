/**
 * The result viewer's logic: which of a completed job's files to show, in which colours, and
 * what a show/hide or a slider does. It fetches through api.js, draws through scenes.js
 * (niivue) and preview_view.js (DOM); app.js only calls {@link Preview#show} and
 * {@link Preview#close}.
 *
 * Files come one by one from `GET jobs/<id>/files/<name>`: the brain-only scan
 * `brain.nii.gz`, the label map `labels.nii.gz`, `report.json` (the label names) and each
 * structure's mesh. niivue reads STL, OBJ and PLY, not GLB, so a structure is shown from the
 * first of those its result lists.
 */

import { displayName } from './presenter.js';

/**
 * Mesh formats the viewer shows: of those the service keeps under `files/` (GLB and STL),
 * the one niivue reads.
 */
export const VIEWABLE_FORMATS = ['stl'];

/** Said when a result has pieces but no file the viewer can show. */
export const NO_VIEWABLE_MESH =
  'The 3D view shows STL files, and these pieces were made without them. Tick STL under ' +
  'File formats and make the files again to see them here.';

/**
 * Colours (Okabe–Ito, told apart with colour-blindness) of the labels in `labels.nii.gz`,
 * and their names when `report.json` gives none.
 * @type {Record<number, {name: string, rgb: number[]}>}
 */
export const LABEL_COLOURS = {
  1: { name: 'Cerebrospinal fluid', rgb: [86, 180, 233] },
  2: { name: 'Grey matter', rgb: [230, 159, 0] },
  3: { name: 'White matter', rgb: [0, 158, 115] },
  4: { name: 'Ventricles', rgb: [0, 114, 178] },
  5: { name: 'Cerebellum', rgb: [240, 228, 66] },
  6: { name: 'Brainstem', rgb: [204, 121, 167] },
};
/** Names people read for the label names report.json uses. */
const LABEL_NAMES = {
  csf: 'Cerebrospinal fluid',
  grey_matter: 'Grey matter',
  gray_matter: 'Grey matter',
  white_matter: 'White matter',
  ventricles: 'Ventricles',
  cerebellum: 'Cerebellum',
  brainstem: 'Brainstem',
};
/** Colours for labels beyond the table, taken in turn. */
const SPARE_COLOURS = [
  [213, 94, 0],
  [153, 153, 153],
  [255, 255, 255],
];

/** Colours of the meshes; the tissue pieces match their labels' colours on the slices. */
export const STRUCTURE_COLOURS = {
  brain: [232, 170, 150],
  left_hemisphere: [230, 159, 0],
  right_hemisphere: [204, 121, 167],
  white_matter: [0, 158, 115],
  ventricles: [0, 114, 178],
  cerebellum_brainstem: [240, 228, 66],
};
/** Outer surfaces, drawn see-through when an inner structure is shown with them. */
const OUTER_STRUCTURES = new Set(['brain', 'left_hemisphere', 'right_hemisphere']);
/** Opacity of an outer surface around inner ones. */
const OUTER_OPACITY = 0.4;

/**
 * @typedef {object} MeshChoice
 * @property {string} key structure slug
 * @property {string} label what a person reads
 * @property {string|null} file its viewable mesh file; null when it was made without one
 * @property {number[]} rgb its colour
 * @property {number} opacity 0–1
 */

/**
 * The meshes the viewer shows for a result, one per structure, each from a file niivue reads.
 * @param {object[]} structures `result.structures` of a completed job
 * @returns {MeshChoice[]}
 */
export function meshChoices(structures) {
  const list = Array.isArray(structures) ? structures : [];
  const keys = list.map((s) => String(s.name ?? '')).filter((name) => name !== '');
  const hasInner = keys.some((key) => !OUTER_STRUCTURES.has(key));
  const choices = [];
  list.forEach((structure, i) => {
    const key = String(structure.name ?? '');
    if (!key || choices.some((c) => c.key === key)) {
      return;
    }
    const files = structure.files || {};
    const named = Array.isArray(files)
      ? files.map(String)
      : Object.values(files).filter((f) => typeof f === 'string');
    const viewable = VIEWABLE_FORMATS.map((ext) =>
      named.find((f) => f.toLowerCase().endsWith(`.${ext}`)),
    ).find(Boolean);
    // A result that lists its files but no viewable one cannot be shown; one that lists none is
    // asked for the name the service gives a piece's STL.
    const file = viewable || (named.length > 0 ? null : `${key}.stl`);
    choices.push({
      key,
      label: typeof structure.display_name === 'string' ? structure.display_name : displayName(key),
      file: file ? file.split('/').pop() : null,
      rgb: STRUCTURE_COLOURS[key] || SPARE_COLOURS[i % SPARE_COLOURS.length],
      opacity: hasInner && OUTER_STRUCTURES.has(key) ? OUTER_OPACITY : 1,
    });
  });
  return choices;
}

/**
 * The colours of the label map's labels, named from report.json where it names them.
 * @param {object|null} report parsed report.json, or null if it could not be read
 * @returns {{label: number, name: string, rgb: number[]}[]}
 */
export function labelColours(report) {
  const named = report && report.labels && typeof report.labels === 'object' ? report.labels : null;
  const labels = named
    ? Object.keys(named)
        .map(Number)
        .filter((n) => Number.isInteger(n) && n > 0)
        .sort((a, b) => a - b)
    : Object.keys(LABEL_COLOURS).map(Number).slice(0, 4);
  let spare = 0;
  return labels.map((label) => {
    const known = LABEL_COLOURS[label];
    const slug = named && typeof named[label] === 'string' ? named[label] : null;
    const name = slug ? LABEL_NAMES[slug.toLowerCase()] || displayName(slug) : null;
    const rgb = known ? known.rgb : SPARE_COLOURS[spare++ % SPARE_COLOURS.length];
    return { label, name: name || (known ? known.name : `Label ${label}`), rgb };
  });
}

/**
 * Join names as a person writes a list: "A", "A and B", "A, B and C".
 * @param {string[]} names the names
 * @returns {string}
 */
function listText(names) {
  if (names.length <= 1) {
    return names.join('');
  }
  return `${names.slice(0, -1).join(', ')} and ${names[names.length - 1]}`;
}

/**
 * @typedef {object} Scenes how the viewer draws (scenes.js; a stand-in in unit tests)
 * @property {(canvas: HTMLCanvasElement) => Promise<any>} openSlices
 * @property {(canvas: HTMLCanvasElement) => Promise<any>} openMeshes
 */

export class Preview {
  /**
   * @param {import('./preview_view.js').PreviewView} view the viewer's DOM
   * @param {{fetchFile: (jobId: string, name: string) => Promise<ArrayBuffer>}} api file access
   * @param {Scenes} scenes how to open the two niivue scenes
   */
  constructor(view, api, scenes) {
    this.view = view;
    this.api = api;
    this.scenes = scenes;
    /** @type {any} the slice scene, once opened (kept for the page's life: WebGL contexts are few) */
    this.slices = null;
    /** @type {any} the mesh scene, once opened */
    this.meshes = null;
    /** Bumped by every show and close, so a slow load for an older job is dropped. */
    this.generation = 0;
    /** @type {MeshChoice[]} meshes on screen */
    this.choices = [];
    /** @type {Set<string>} meshes hidden by the person */
    this.hidden = new Set();
    /** @type {string|null} job whose files are shown */
    this.jobId = null;
    /**
     * Told the job's parsed report.json (the options it was made with), once read.
     * @type {(jobId: string, report: object) => void}
     */
    this.onReport = () => {};
    view.onToggle((key, visible) => this.toggle(key, visible));
    view.onLayout((layout) => this.slices && this.slices.setLayout(layout));
    view.onOpacity((opacity) => this.slices && this.slices.setOverlayOpacity(opacity));
    view.onSlice((frac) => this.slices && this.slices.moveTo(frac));
    view.onTurn((azimuth, elevation) => this.meshes && this.meshes.turn(azimuth, elevation));
  }

  /**
   * Show a completed job's scan, label map and meshes. Each pane loads on its own: a scan
   * that cannot be shown leaves the meshes, and the other way round.
   * @param {string} jobId the completed job
   * @param {object} result `result` of its status
   * @returns {Promise<void>} settles when both panes are drawn or have failed
   */
  async show(jobId, result) {
    if (this.jobId === jobId) {
      return;
    }
    this.generation += 1;
    const generation = this.generation;
    this.jobId = jobId;
    this.hidden = new Set();
    this.choices = meshChoices(result && result.structures);
    const { view } = this;
    view.reset();
    view.setStatus('Loading your scan and meshes…');
    view.setPaneState('slices', 'loading');
    view.setPaneState('meshes', 'loading');
    const outcomes = await Promise.allSettled([
      this.showSlices(jobId, generation),
      this.showMeshes(jobId, generation),
    ]);
    if (generation !== this.generation) {
      return;
    }
    const problems = outcomes
      .filter((o) => o.status === 'rejected')
      .map((o) => /** @type {PromiseRejectedResult} */ (o).reason);
    if (problems.length === 0) {
      view.setStatus(null);
      return;
    }
    const reason = problems[0] && problems[0].message ? problems[0].message : String(problems[0]);
    const what =
      problems.length === 2 ? 'The viewer' : outcomes[0].status === 'rejected' ? 'The slices' : 'The 3D meshes';
    view.setStatus(`${what} could not be shown: ${reason} You can still download the meshes.`);
  }

  /**
   * Load the brain-only scan with its label map into the slice scene.
   * @param {string} jobId the job
   * @param {number} generation the show this belongs to
   */
  async showSlices(jobId, generation) {
    const { view } = this;
    try {
      const [scan, labels, report] = await Promise.all([
        this.api.fetchFile(jobId, 'brain.nii.gz'),
        this.api.fetchFile(jobId, 'labels.nii.gz'),
        this.api.fetchFile(jobId, 'report.json').then(parseJson, () => null),
      ]);
      if (generation !== this.generation) {
        return;
      }
      if (report) {
        this.onReport(jobId, report);
      }
      if (!this.slices) {
        this.slices = await this.scenes.openSlices(view.slicesCanvas);
        this.slices.onMove = (frac) => view.setSlicePosition(frac);
      }
      const colours = labelColours(report);
      await this.slices.show(scan, labels, colours, view.overlayOpacity());
      if (generation !== this.generation) {
        return;
      }
      this.slices.setLayout(view.layout());
      view.showLegend(colours);
      view.describe(
        'slices',
        `Slices of your scan with the segmentation over them: ${listText(colours.map((c) => c.name))}`,
      );
      view.setPaneState('slices', 'ready');
    } catch (err) {
      if (generation === this.generation) {
        view.setPaneState('slices', 'failed');
      }
      throw err;
    }
  }

  /**
   * Load every structure's mesh into the mesh scene and offer a toggle for each.
   * @param {string} jobId the job
   * @param {number} generation the show this belongs to
   */
  async showMeshes(jobId, generation) {
    const { view } = this;
    try {
      if (this.choices.length === 0) {
        throw new Error('The result lists no meshes.');
      }
      this.choices = this.choices.filter((c) => c.file !== null);
      if (this.choices.length === 0) {
        throw new Error(NO_VIEWABLE_MESH);
      }
      const data = await Promise.all(this.choices.map((c) => this.api.fetchFile(jobId, c.file)));
      if (generation !== this.generation) {
        return;
      }
      if (!this.meshes) {
        this.meshes = await this.scenes.openMeshes(view.meshesCanvas);
      }
      await this.meshes.show(this.choices.map((c, i) => ({ ...c, fileName: c.file, data: data[i] })));
      if (generation !== this.generation) {
        return;
      }
      const { azimuth, elevation } = view.angles();
      this.meshes.turn(azimuth, elevation);
      view.showToggles(this.choices.map((c) => ({ ...c, visible: true })));
      this.describeMeshes();
      view.setPaneState('meshes', 'ready');
    } catch (err) {
      if (generation === this.generation) {
        view.setPaneState('meshes', 'failed');
      }
      throw err;
    }
  }

  /**
   * Show or hide one mesh.
   * @param {string} key structure slug
   * @param {boolean} visible whether to draw it
   */
  toggle(key, visible) {
    if (visible) {
      this.hidden.delete(key);
    } else {
      this.hidden.add(key);
    }
    if (this.meshes) {
      this.meshes.setVisible(key, visible);
    }
    this.describeMeshes();
  }

  /**
   * Say in the 3D canvas's text alternative which meshes it shows.
   */
  describeMeshes() {
    const shown = this.choices.filter((c) => !this.hidden.has(c.key)).map((c) => c.label);
    this.view.describe(
      'meshes',
      shown.length > 0 ? `3D view of ${listText(shown)}` : '3D view with every mesh hidden',
    );
  }

  /**
   * Forget the job on screen (its scenes stay, empty of meaning, for the next one).
   */
  close() {
    this.generation += 1;
    this.jobId = null;
    this.choices = [];
    this.hidden = new Set();
    this.view.reset();
  }
}

/**
 * Parse a JSON file's bytes.
 * @param {ArrayBuffer} buffer the file
 * @returns {object|null}
 */
function parseJson(buffer) {
  try {
    return JSON.parse(new TextDecoder().decode(buffer));
  } catch {
    return null;
  }
}
