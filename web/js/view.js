/**
 * All DOM access of the page. The view draws what it is told and reports what the
 * person did; it makes no requests and keeps no job state. Text from the server is
 * only ever set with `textContent`.
 */

import { checkedValues, renderChoiceList } from './options_view.js';

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
 * Show or hide an element with the `hidden` attribute.
 * @param {HTMLElement} el element
 * @param {boolean} visible whether to show it
 */
function setVisible(el, visible) {
  el.hidden = !visible;
}

/**
 * Set an element's text and show it, or hide it when there is no text.
 * @param {HTMLElement} el element
 * @param {string|null|undefined} text text to show
 */
function setOptionalText(el, text) {
  el.textContent = text || '';
  el.hidden = !text;
}

export class View {
  /**
   * @param {Document} [doc] the page's document
   */
  constructor(doc = document) {
    this.doc = doc;
    const ids = [
      // Resume prompt
      'resume', 'resume-title', 'resume-text', 'resume-check', 'resume-new',
      // Upload form
      'upload', 'upload-title', 'upload-form', 'dropzone', 'file-input', 'file-chosen',
      'file-name', 'file-size', 'max-size', 'upload-error', 'upload-progress-block',
      'upload-progress', 'upload-progress-text', 'upload-submit', 'upload-abort',
      'upload-options', 'upload-structures', 'upload-formats',
      // Job card
      'job', 'job-title', 'job-status', 'job-status-text', 'job-progress-block', 'job-progress',
      'job-progress-fill', 'job-progress-percent', 'fact-step', 'job-step', 'fact-queue',
      'job-queue', 'fact-eta', 'job-eta', 'job-notice', 'job-error', 'job-cancel', 'job-new',
      'job-id',
      // Result
      'result', 'structures-body', 'result-notes', 'result-note', 'download',
      // Result viewer and print options (their insides: preview_view.js, options_view.js)
      'studio',
      // Footer
      'stats-line',
    ];
    /** @type {Record<string, HTMLElement>} */
    this.el = Object.fromEntries(ids.map((id) => [id, byId(doc, id)]));
    this.baseTitle = doc.title;
    /** Whether the person changed the upload form's pieces or formats. */
    this.uploadChoicesEdited = false;
    this.el['upload-options'].addEventListener('change', () => {
      this.uploadChoicesEdited = true;
    });
  }

  /**
   * Largest upload the page accepts before asking the server, from the form's
   * `data-max-upload-bytes` attribute.
   * @returns {number} bytes
   */
  maxUploadBytes() {
    return Number(this.el['upload-form'].dataset.maxUploadBytes) || Infinity;
  }

  /**
   * Use the server's upload limit (from `/stats`) for the page's own check.
   * @param {number} bytes
   */
  setMaxUploadBytes(bytes) {
    this.el['upload-form'].dataset.maxUploadBytes = String(bytes);
  }

  /**
   * Show the size limit next to the drop zone.
   * @param {string} text e.g. "1.0 GB"
   */
  setMaxSizeText(text) {
    this.el['max-size'].textContent = text;
  }

  // ---- Which card is on screen ---------------------------------------------------

  /**
   * Show exactly one of the three cards, optionally moving focus to its heading
   * (used after a person's action, so keyboard and screen-reader users follow along).
   * @param {'resume'|'upload'|'job'} name card to show
   * @param {boolean} focus whether to focus its heading
   */
  showCard(name, focus) {
    for (const card of ['resume', 'upload', 'job']) {
      setVisible(this.el[card], card === name);
    }
    if (focus) {
      this.el[`${name}-title`].focus();
    }
  }

  /**
   * Offer to resume a remembered job.
   * @param {string} ageText e.g. "2 hours ago"
   * @param {boolean} focus whether to focus the prompt
   */
  showResumePrompt(ageText, focus) {
    this.el['resume-text'].textContent =
      `You have a job from ${ageText} that may still be processing.`;
    this.showCard('resume', focus);
    this.setTitle(null);
  }

  /**
   * Show an empty upload form.
   * @param {boolean} focus whether to focus its heading
   */
  showUploadForm(focus) {
    this.el['upload-form'].reset();
    this.uploadChoicesEdited = false;
    setVisible(this.el['file-chosen'], false);
    this.showUploadError(null);
    this.showUploading(false);
    this.el['upload-submit'].disabled = true;
    this.showCard('upload', focus);
    this.setTitle(null);
  }

  // ---- Choosing and uploading ----------------------------------------------------

  /**
   * Offer the pieces and formats in the upload form, ticked as the service's defaults.
   * @param {import('./print_options.js').Choice[]} structures pieces to offer
   * @param {import('./print_options.js').Choice[]} formats formats to offer
   * @param {{structures: string[], formats: string[]}} checked what is ticked
   */
  renderUploadChoices(structures, formats, checked) {
    renderChoiceList(
      this.el['upload-structures'], 'upload-structures', 'structures', structures, checked.structures,
    );
    renderChoiceList(this.el['upload-formats'], 'upload-formats', 'formats', formats, checked.formats);
  }

  /**
   * The pieces and formats the person chose in the upload form, or null when they left the
   * service's defaults alone (so a later change of defaults reaches them).
   * @returns {{structures: string[], formats: string[]}|null}
   */
  uploadChoices() {
    if (!this.uploadChoicesEdited) {
      return null;
    }
    return {
      structures: checkedValues(this.el['upload-structures']),
      formats: checkedValues(this.el['upload-formats']),
    };
  }

  /**
   * Show the chosen file and whether it can be uploaded.
   * @param {string} name file name
   * @param {string} sizeText file size in words
   * @param {boolean} acceptable whether the Upload button should be enabled
   */
  showChosenFile(name, sizeText, acceptable) {
    this.el['file-name'].textContent = name;
    this.el['file-size'].textContent = sizeText;
    setVisible(this.el['file-chosen'], true);
    this.el['upload-submit'].disabled = !acceptable;
  }

  /**
   * Show an upload problem, or hide it with null.
   * @param {string|null} message what went wrong
   */
  showUploadError(message) {
    setOptionalText(this.el['upload-error'], message);
  }

  /**
   * Switch the form between choosing and uploading.
   * @param {boolean} uploading whether an upload is in flight
   */
  showUploading(uploading) {
    setVisible(this.el['upload-progress-block'], uploading);
    setVisible(this.el['upload-abort'], uploading);
    setVisible(this.el['upload-submit'], !uploading);
    this.el['file-input'].disabled = uploading;
    this.el.dropzone.classList.toggle('is-disabled', uploading);
    if (uploading) {
      this.setUploadProgress(0, '');
    }
  }

  /**
   * Draw the upload bar.
   * @param {number} percent 0–100
   * @param {string} text e.g. "12.0 MB of 40.0 MB (30%)"
   */
  setUploadProgress(percent, text) {
    const bar = /** @type {HTMLProgressElement} */ (this.el['upload-progress']);
    bar.value = percent;
    this.el['upload-progress-text'].textContent = text;
    this.setTitle(`Uploading ${Math.round(percent)}%`);
  }

  /**
   * Whether a file input or drop is allowed right now.
   * @returns {boolean}
   */
  isFileInputEnabled() {
    return !(/** @type {HTMLInputElement} */ (this.el['file-input']).disabled);
  }

  // ---- The job card --------------------------------------------------------------

  /**
   * Draw a job.
   * @param {import('./presenter.js').JobViewModel} vm what to show
   * @param {boolean} focus whether to focus the heading (first draw after an action)
   */
  renderJob(vm, focus) {
    const { el } = this;
    el['job-title'].textContent = vm.title;
    el['job-status-text'].textContent = vm.statusText;
    el['job-status'].dataset.status = vm.status;
    el['job-id'].textContent = vm.jobId;

    setVisible(el['job-progress-block'], vm.percent !== null);
    if (vm.percent !== null) {
      const text = `${vm.percent}%`;
      el['job-progress'].setAttribute('aria-valuenow', String(vm.percent));
      el['job-progress'].setAttribute('aria-valuetext', vm.step ? `${text}, ${vm.step}` : text);
      el['job-progress-fill'].style.width = text;
      el['job-progress-percent'].textContent = text;
    }

    setVisible(el['fact-step'], vm.step !== null);
    // Write only on change, so the live region announces each step once.
    if (vm.step !== null && el['job-step'].textContent !== vm.step) {
      el['job-step'].textContent = vm.step;
    }
    setVisible(el['fact-queue'], vm.queueText !== null);
    el['job-queue'].textContent = vm.queueText || '';
    setVisible(el['fact-eta'], vm.showEta);

    setOptionalText(el['job-notice'], vm.notice);
    setOptionalText(el['job-error'], vm.error);

    setVisible(el['job-cancel'], vm.canCancel);
    setVisible(el['job-new'], vm.canStartNew);
    setVisible(el.download, vm.downloadable);
    setVisible(el.studio, vm.downloadable);

    setVisible(el.result, vm.structures !== null);
    if (vm.structures !== null) {
      this.renderStructures(vm.structures);
      el['result-notes'].replaceChildren(
        ...vm.notes.map((note) => {
          const item = this.doc.createElement('li');
          item.textContent = note;
          return item;
        }),
      );
      setVisible(el['result-notes'], vm.notes.length > 0);
      el['result-note'].textContent = vm.resultNote || '';
    }

    this.showCard('job', focus);
    this.setTitle(vm.percent !== null && vm.status === 'processing'
      ? `${vm.percent}% ${vm.statusText}`
      : vm.statusText);
  }

  /**
   * Fill the result table.
   * @param {import('./presenter.js').StructureRow[]} rows one row per structure
   */
  renderStructures(rows) {
    const body = this.el['structures-body'];
    body.replaceChildren();
    if (rows.length === 0) {
      const tr = this.doc.createElement('tr');
      const td = this.doc.createElement('td');
      td.colSpan = 4;
      td.textContent = 'The download lists the structures that were found.';
      tr.append(td);
      body.append(tr);
      return;
    }
    for (const row of rows) {
      const tr = this.doc.createElement('tr');
      const name = this.doc.createElement('th');
      name.scope = 'row';
      name.textContent = row.name;
      tr.append(name);
      for (const [label, text, numeric] of [
        ['Volume', row.volume, true],
        ['Triangles', row.triangles, true],
        ['Printable', row.printable, false],
      ]) {
        const td = this.doc.createElement('td');
        td.textContent = String(text);
        // Labels each value where narrow screens stack the table (see styles.css).
        td.dataset.label = label;
        if (numeric) {
          td.className = 'num';
        }
        tr.append(td);
      }
      body.append(tr);
    }
  }

  /**
   * Point the Download button at a URL.
   * @param {string} url relative download URL
   */
  setDownloadUrl(url) {
    this.el.download.setAttribute('href', url);
  }

  /**
   * Show the time remaining line.
   * @param {string} text e.g. "about 3 minutes" or "estimating…"
   */
  setEta(text) {
    if (this.el['job-eta'].textContent !== text) {
      this.el['job-eta'].textContent = text;
    }
  }

  /**
   * Show that polling hit a problem and will try again, or clear that note with null.
   * Reuses the notice line; the next successful poll redraws it.
   * @param {string|null} message what went wrong
   */
  showConnectionProblem(message) {
    setOptionalText(this.el['job-notice'], message);
  }

  /**
   * Disable the Cancel button while the request is in flight.
   * @param {boolean} busy whether a cancel request is in flight
   */
  setCancelBusy(busy) {
    /** @type {HTMLButtonElement} */ (this.el['job-cancel']).disabled = busy;
  }

  /**
   * Show a cancellation problem on the job card.
   * @param {string} message what went wrong
   */
  showJobError(message) {
    setOptionalText(this.el['job-error'], message);
  }

  // ---- Page chrome ---------------------------------------------------------------

  /**
   * Prefix the tab title with a short state, so a background tab shows progress.
   * @param {string|null} state e.g. "45% Processing"; null restores the plain title
   */
  setTitle(state) {
    this.doc.title = state ? `${state} · ${this.baseTitle}` : this.baseTitle;
  }

  /**
   * Show the one-line service summary in the footer.
   * @param {string} text e.g. "142 scans processed, typically in about 7 minutes."
   */
  setStatsLine(text) {
    setOptionalText(this.el['stats-line'], text);
  }

  // ---- What the person does ------------------------------------------------------

  /**
   * @param {() => void} handler Check Status was pressed
   */
  onResumeCheck(handler) {
    this.el['resume-check'].addEventListener('click', handler);
  }

  /**
   * @param {() => void} handler Start New Upload was pressed (prompt or job card)
   */
  onStartNew(handler) {
    this.el['resume-new'].addEventListener('click', handler);
    this.el['job-new'].addEventListener('click', handler);
  }

  /**
   * Report a file chosen with the picker or dropped on the drop zone.
   * @param {(file: File) => void} handler receives the file
   */
  onFileChosen(handler) {
    const input = /** @type {HTMLInputElement} */ (this.el['file-input']);
    const zone = this.el.dropzone;
    input.addEventListener('change', () => {
      if (input.files && input.files.length > 0) {
        handler(input.files[0]);
      }
    });
    // Dragging anywhere over the page would otherwise open the file in the tab.
    for (const type of ['dragover', 'drop']) {
      this.doc.addEventListener(type, (event) => event.preventDefault());
    }
    let depth = 0;
    zone.addEventListener('dragenter', (event) => {
      event.preventDefault();
      depth += 1;
      zone.classList.toggle('is-dragging', this.isFileInputEnabled());
    });
    zone.addEventListener('dragleave', () => {
      depth = Math.max(0, depth - 1);
      if (depth === 0) {
        zone.classList.remove('is-dragging');
      }
    });
    zone.addEventListener('drop', (event) => {
      event.preventDefault();
      depth = 0;
      zone.classList.remove('is-dragging');
      const files = event.dataTransfer ? event.dataTransfer.files : null;
      if (this.isFileInputEnabled() && files && files.length > 0) {
        handler(files[0]);
      }
    });
  }

  /**
   * @param {() => void} handler the upload form was submitted
   */
  onUploadSubmit(handler) {
    this.el['upload-form'].addEventListener('submit', (event) => {
      event.preventDefault();
      handler();
    });
  }

  /**
   * @param {() => void} handler Cancel upload was pressed
   */
  onUploadAbort(handler) {
    this.el['upload-abort'].addEventListener('click', handler);
  }

  /**
   * @param {() => void} handler Cancel job was pressed
   */
  onCancelJob(handler) {
    this.el['job-cancel'].addEventListener('click', handler);
  }

  /**
   * Report a plain click on Download; the handler decides whether to follow it with
   * {@link View#startDownload}. Clicks with a modifier key (new tab, save link) are left
   * to the browser.
   * @param {() => void} handler Download was clicked
   */
  onDownload(handler) {
    this.el.download.addEventListener('click', (event) => {
      if (event.button !== 0 || event.ctrlKey || event.metaKey || event.shiftKey || event.altKey) {
        return;
      }
      event.preventDefault();
      handler();
    });
  }

  /**
   * Follow the Download link; the server answers with an attachment, so the page stays.
   */
  startDownload() {
    window.location.assign(this.el.download.getAttribute('href'));
  }

  /**
   * Disable the Download link while its availability is checked.
   * @param {boolean} busy whether a check is in flight
   */
  setDownloadBusy(busy) {
    this.el.download.setAttribute('aria-disabled', String(busy));
    this.el.download.classList.toggle('is-busy', busy);
  }

  /**
   * Say that the download has started.
   * @param {string} message e.g. "Your download has started."
   */
  showDownloadStarted(message) {
    setOptionalText(this.el['job-notice'], message);
  }

  /**
   * Warn before leaving the page while an upload is in flight.
   * @param {() => boolean} isBusy whether leaving now would lose work
   */
  guardUnload(isBusy) {
    window.addEventListener('beforeunload', (event) => {
      if (isBusy()) {
        event.preventDefault();
        event.returnValue = '';
      }
    });
  }
}
