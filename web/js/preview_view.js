/**
 * DOM of the result viewer: the two canvases, the legend of the label colours, the show/hide
 * toggles of the meshes, and the sliders that move the slices and turn the meshes (so the
 * keyboard can do all that the mouse does). It draws what it is told and reports what the
 * person did; it makes no requests. Server text is only ever set with `textContent`.
 */

/**
 * Element by id, failing loudly if the markup and the script disagree.
 * @param {Document} doc the document
 * @param {string} id element id
 * @returns {HTMLElement}
 */
function byId(doc, id) {
  const el = doc.getElementById(id);
  if (!el) {
    throw new Error(`index.html is missing #${id}`);
  }
  return el;
}

/**
 * CSS colour of an RGB triple.
 * @param {number[]} rgb 0–255 each
 * @returns {string}
 */
function cssColour(rgb) {
  return `rgb(${rgb[0]} ${rgb[1]} ${rgb[2]})`;
}

/** The three slice sliders, in the order of niivue's fractions (x, y, z). */
const SLICE_SLIDERS = ['slice-x', 'slice-y', 'slice-z'];

/**
 * @typedef {object} ToggleItem
 * @property {string} key structure slug
 * @property {string} label what a person reads
 * @property {number[]} rgb its colour, 0–255
 * @property {boolean} visible whether it is shown
 */

export class PreviewView {
  /**
   * @param {Document} [doc] the page's document
   */
  constructor(doc = document) {
    this.doc = doc;
    const ids = [
      'viewer', 'viewer-status', 'slices-pane', 'slices-canvas', 'slices-legend',
      'slices-layout', 'overlay-opacity', ...SLICE_SLIDERS, 'meshes-pane', 'meshes-canvas',
      'mesh-toggles', 'mesh-toggle-list', 'mesh-azimuth', 'mesh-elevation',
    ];
    /** @type {Record<string, HTMLElement>} */
    this.el = Object.fromEntries(ids.map((id) => [id, byId(doc, id)]));
  }

  /** @returns {HTMLCanvasElement} where the slices are drawn */
  get slicesCanvas() {
    return /** @type {HTMLCanvasElement} */ (this.el['slices-canvas']);
  }

  /** @returns {HTMLCanvasElement} where the meshes are drawn */
  get meshesCanvas() {
    return /** @type {HTMLCanvasElement} */ (this.el['meshes-canvas']);
  }

  /**
   * Say what the viewer is doing, or clear the line with null.
   * @param {string|null} text e.g. "Loading your scan and meshes…"
   */
  setStatus(text) {
    const el = this.el['viewer-status'];
    el.textContent = text || '';
    el.hidden = !text;
  }

  /**
   * Mark a pane as loading, ready, failed or empty (the CSS dims all but ready; tests read it).
   * @param {'slices'|'meshes'} pane which pane
   * @param {'empty'|'loading'|'ready'|'failed'} state its state
   */
  setPaneState(pane, state) {
    this.el[`${pane}-pane`].dataset.state = state;
    const controls = this.el[`${pane}-pane`].querySelectorAll('input, select');
    for (const control of controls) {
      /** @type {HTMLInputElement} */ (control).disabled = state !== 'ready';
    }
  }

  /**
   * The text alternative of a canvas, saying what it shows.
   * @param {'slices'|'meshes'} pane which canvas
   * @param {string} text e.g. "3D view of White matter and Ventricles"
   */
  describe(pane, text) {
    this.el[`${pane}-canvas`].setAttribute('aria-label', text);
  }

  /**
   * List the label colours, each with its name (never colour alone).
   * @param {{name: string, rgb: number[]}[]} colours one per label
   */
  showLegend(colours) {
    this.el['slices-legend'].replaceChildren(
      ...colours.map(({ name, rgb }) => {
        const item = this.doc.createElement('li');
        const swatch = this.doc.createElement('span');
        swatch.className = 'swatch';
        swatch.setAttribute('aria-hidden', 'true');
        swatch.style.backgroundColor = cssColour(rgb);
        const text = this.doc.createElement('span');
        text.textContent = name;
        item.append(swatch, text);
        return item;
      }),
    );
  }

  /**
   * One checkbox per mesh, labelled with its name and colour.
   * @param {ToggleItem[]} items the meshes
   */
  showToggles(items) {
    this.el['mesh-toggle-list'].replaceChildren(
      ...items.map(({ key, label, rgb, visible }) => {
        const id = `mesh-toggle-${key}`;
        const wrapper = this.doc.createElement('div');
        wrapper.className = 'toggle';
        const box = this.doc.createElement('input');
        box.type = 'checkbox';
        box.id = id;
        box.value = key;
        box.checked = visible;
        const labelEl = this.doc.createElement('label');
        labelEl.htmlFor = id;
        const swatch = this.doc.createElement('span');
        swatch.className = 'swatch';
        swatch.setAttribute('aria-hidden', 'true');
        swatch.style.backgroundColor = cssColour(rgb);
        const text = this.doc.createElement('span');
        text.textContent = label;
        labelEl.append(swatch, text);
        wrapper.append(box, labelEl);
        return wrapper;
      }),
    );
    this.el['mesh-toggles'].hidden = items.length === 0;
  }

  /**
   * Put the sliders where the slices are (after a click on the canvas, say).
   * @param {number[]} frac three fractions 0–1
   */
  setSlicePosition(frac) {
    SLICE_SLIDERS.forEach((id, i) => {
      if (Number.isFinite(frac[i])) {
        /** @type {HTMLInputElement} */ (this.el[id]).value = String(Math.round(frac[i] * 100));
      }
    });
  }

  /** @returns {number} overlay opacity the slider asks for, 0–1 */
  overlayOpacity() {
    return Number(/** @type {HTMLInputElement} */ (this.el['overlay-opacity']).value) / 100;
  }

  /** @returns {string} the chosen slice layout */
  layout() {
    return /** @type {HTMLSelectElement} */ (this.el['slices-layout']).value;
  }

  /** @returns {{azimuth: number, elevation: number}} the view the sliders ask for */
  angles() {
    return {
      azimuth: Number(/** @type {HTMLInputElement} */ (this.el['mesh-azimuth']).value),
      elevation: Number(/** @type {HTMLInputElement} */ (this.el['mesh-elevation']).value),
    };
  }

  /**
   * Empty both panes.
   */
  reset() {
    this.setStatus(null);
    this.setPaneState('slices', 'empty');
    this.setPaneState('meshes', 'empty');
    this.showLegend([]);
    this.showToggles([]);
  }

  // ---- What the person does ------------------------------------------------------

  /**
   * @param {(key: string, visible: boolean) => void} handler a mesh was shown or hidden
   */
  onToggle(handler) {
    this.el['mesh-toggle-list'].addEventListener('change', (event) => {
      const box = /** @type {HTMLInputElement} */ (event.target);
      if (box && box.type === 'checkbox') {
        handler(box.value, box.checked);
      }
    });
  }

  /**
   * @param {(layout: string) => void} handler another slice layout was chosen
   */
  onLayout(handler) {
    this.el['slices-layout'].addEventListener('change', () => handler(this.layout()));
  }

  /**
   * @param {(opacity: number) => void} handler the overlay opacity slider moved
   */
  onOpacity(handler) {
    this.el['overlay-opacity'].addEventListener('input', () => handler(this.overlayOpacity()));
  }

  /**
   * @param {(frac: number[]) => void} handler a slice slider moved; NaN for the axes it left
   */
  onSlice(handler) {
    SLICE_SLIDERS.forEach((id, i) => {
      this.el[id].addEventListener('input', () => {
        const frac = [NaN, NaN, NaN];
        frac[i] = Number(/** @type {HTMLInputElement} */ (this.el[id]).value) / 100;
        handler(frac);
      });
    });
  }

  /**
   * @param {(azimuth: number, elevation: number) => void} handler a turn slider moved
   */
  onTurn(handler) {
    for (const id of ['mesh-azimuth', 'mesh-elevation']) {
      this.el[id].addEventListener('input', () => {
        const { azimuth, elevation } = this.angles();
        handler(azimuth, elevation);
      });
    }
  }
}
