/**
 * DOM of the print options form: draws the choices and values it is given, reads what the
 * person set, and shows each refusal next to the option it is about. It makes no requests.
 * Server text is only ever set with `textContent`.
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
 * Fill a list with one labelled checkbox per choice (the print options form and the upload
 * form's optional choices both use it).
 * @param {HTMLElement} list where the boxes go
 * @param {string} idPrefix prefix of each box's id, e.g. "option-structures"
 * @param {string} name the option the boxes set, e.g. "structures"
 * @param {import('./print_options.js').Choice[]} choices what to offer
 * @param {string[]} checked which are ticked
 */
export function renderChoiceList(list, idPrefix, name, choices, checked) {
  const doc = list.ownerDocument;
  list.replaceChildren(
    ...choices.map(({ value, label }) => {
      const id = `${idPrefix}-${value}`;
      const wrapper = doc.createElement('div');
      wrapper.className = 'choice';
      const box = doc.createElement('input');
      box.type = 'checkbox';
      box.id = id;
      box.name = name;
      box.value = value;
      box.checked = checked.includes(value);
      box.defaultChecked = box.checked; // what a form reset goes back to
      const labelEl = doc.createElement('label');
      labelEl.htmlFor = id;
      labelEl.textContent = label;
      wrapper.append(box, labelEl);
      return wrapper;
    }),
  );
}

/**
 * The values of a list's ticked boxes.
 * @param {HTMLElement} list a list filled by {@link renderChoiceList}
 * @returns {string[]}
 */
export function checkedValues(list) {
  return [...list.querySelectorAll('input[type=checkbox]')]
    .filter((box) => /** @type {HTMLInputElement} */ (box).checked)
    .map((box) => /** @type {HTMLInputElement} */ (box).value);
}

/** Fields that show their own error line (both size options share "size"). */
const FIELDS = ['structures', 'formats', 'hollow_mm', 'size', 'smoothing', 'target_triangles'];
/** Number inputs, by option name. */
const NUMBER_INPUTS = ['hollow_mm', 'scale_percent', 'longest_side_mm', 'smoothing', 'target_triangles'];

export class OptionsView {
  /**
   * @param {Document} [doc] the page's document
   */
  constructor(doc = document) {
    this.doc = doc;
    const ids = [
      'options-form', 'options-title', 'option-structures', 'option-formats', 'size-by-scale',
      'size-by-longest', 'options-error', 'options-submit',
      ...NUMBER_INPUTS.map((name) => `option-${name}`),
      ...FIELDS.map((name) => `option-${name}-error`),
    ];
    /** @type {Record<string, HTMLElement>} */
    this.el = Object.fromEntries(ids.map((id) => [id, byId(doc, id)]));
    /** Whether the person changed anything since the form was last filled. */
    this.edited = false;
    const form = this.el['options-form'];
    form.addEventListener('input', () => {
      this.edited = true;
    });
    form.addEventListener('change', (event) => {
      this.edited = true;
      if (/** @type {HTMLInputElement} */ (event.target).name === 'size_by') {
        this.syncSizeInputs();
      }
    });
  }

  /**
   * Fill the form.
   * @param {import('./print_options.js').PrintOptions} values what to show
   * @param {import('./print_options.js').Choice[]} structures pieces to offer
   * @param {import('./print_options.js').Choice[]} formats formats to offer
   */
  render(values, structures, formats) {
    this.renderChoices('structures', structures, values.structures);
    this.renderChoices('formats', formats, values.formats);
    for (const name of NUMBER_INPUTS) {
      /** @type {HTMLInputElement} */ (this.el[`option-${name}`]).value = String(values[name]);
    }
    const byLongest = values.size_by === 'longest_side_mm';
    /** @type {HTMLInputElement} */ (this.el['size-by-longest']).checked = byLongest;
    /** @type {HTMLInputElement} */ (this.el['size-by-scale']).checked = !byLongest;
    this.syncSizeInputs();
    this.clearErrors();
    this.edited = false;
  }

  /**
   * One checkbox per choice.
   * @param {'structures'|'formats'} name the option
   * @param {import('./print_options.js').Choice[]} choices what to offer
   * @param {string[]} checked which are ticked
   */
  renderChoices(name, choices, checked) {
    renderChoiceList(this.el[`option-${name}`], `option-${name}`, name, choices, checked);
  }

  /**
   * Enable the size input whose radio is chosen, disable the other.
   */
  syncSizeInputs() {
    const byLongest = /** @type {HTMLInputElement} */ (this.el['size-by-longest']).checked;
    /** @type {HTMLInputElement} */ (this.el['option-longest_side_mm']).disabled = !byLongest;
    /** @type {HTMLInputElement} */ (this.el['option-scale_percent']).disabled = byLongest;
  }

  /**
   * What the form holds.
   * @returns {import('./print_options.js').FormValues}
   */
  values() {
    const checked = (name) => checkedValues(this.el[`option-${name}`]);
    const text = (name) => /** @type {HTMLInputElement} */ (this.el[`option-${name}`]).value;
    return {
      structures: checked('structures'),
      formats: checked('formats'),
      size_by: /** @type {HTMLInputElement} */ (this.el['size-by-longest']).checked
        ? 'longest_side_mm'
        : 'scale_percent',
      hollow_mm: text('hollow_mm'),
      scale_percent: text('scale_percent'),
      longest_side_mm: text('longest_side_mm'),
      smoothing: text('smoothing'),
      target_triangles: text('target_triangles'),
    };
  }

  /**
   * The controls of a field (what gets `aria-invalid` and focus).
   * @param {string} field a field key
   * @returns {HTMLElement[]}
   */
  controlsOf(field) {
    if (field === 'structures' || field === 'formats') {
      return [...this.el[`option-${field}`].querySelectorAll('input')];
    }
    if (field === 'size') {
      const byLongest = /** @type {HTMLInputElement} */ (this.el['size-by-longest']).checked;
      return [this.el[byLongest ? 'option-longest_side_mm' : 'option-scale_percent']];
    }
    return [this.el[`option-${field}`]];
  }

  /**
   * Show problems next to their fields, and move focus to the first one.
   * @param {Record<string, string>} errors message per field key
   */
  showErrors(errors) {
    this.clearErrors();
    let first = null;
    for (const field of FIELDS) {
      const message = errors[field];
      if (!message) {
        continue;
      }
      const line = this.el[`option-${field}-error`];
      line.textContent = message;
      line.hidden = false;
      for (const control of this.controlsOf(field)) {
        control.setAttribute('aria-invalid', 'true');
        if (!control.getAttribute('aria-describedby')) {
          control.setAttribute('aria-describedby', line.id);
        }
      }
      first = first || this.controlsOf(field)[0];
    }
    if (first) {
      first.focus();
    }
  }

  /**
   * Show a problem that is about no single option, or clear it with null.
   * @param {string|null} message what went wrong
   */
  showFormError(message) {
    const el = this.el['options-error'];
    el.textContent = message || '';
    el.hidden = !message;
  }

  /**
   * Hide every problem.
   */
  clearErrors() {
    for (const field of FIELDS) {
      const line = this.el[`option-${field}-error`];
      line.textContent = '';
      line.hidden = true;
    }
    for (const control of this.el['options-form'].querySelectorAll('[aria-invalid]')) {
      control.removeAttribute('aria-invalid');
    }
    this.showFormError(null);
  }

  /**
   * Disable the button while a re-make is being asked for.
   * @param {boolean} busy whether a request is in flight
   */
  setBusy(busy) {
    /** @type {HTMLButtonElement} */ (this.el['options-submit']).disabled = busy;
  }

  /**
   * @param {() => void} handler the form was submitted
   */
  onSubmit(handler) {
    this.el['options-form'].addEventListener('submit', (event) => {
      event.preventDefault();
      handler();
    });
  }
}
