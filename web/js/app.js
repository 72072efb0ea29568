/**
 * Wiring: what happens when the person acts and when the server answers.
 *
 * One job at a time. Its status is polled with a chained setTimeout, each poll
 * scheduled only after the previous answer arrived, until the job ends. Between polls
 * the ETA counts down once a second from the last `eta_seconds`.
 */

import * as api from './api.js';
import { formatAge, formatBytes, formatRemaining, secondsSince } from './format.js';
import { OptionsView } from './options_view.js';
import { describeJob, goneJob, isTerminal, pendingJob } from './presenter.js';
import { Preview } from './preview.js';
import { PreviewView } from './preview_view.js';
import {
  DEFAULT_OPTIONS,
  FORMAT_CHOICES,
  buildRequest,
  fieldOfError,
  optionsFromResult,
  structureChoices,
} from './print_options.js';
import { MeshScene, SliceScene } from './scenes.js';
import { JobStore, isPastLifetime } from './store.js';
import { View } from './view.js';

/** Time between the end of one status poll and the start of the next, in ms. */
export const POLL_INTERVAL_MS = 2000;
/** Longest wait between polls while the server is unreachable, in ms. */
export const MAX_POLL_BACKOFF_MS = 30000;
/** How often the ETA countdown redraws, in ms. */
export const ETA_TICK_MS = 1000;
/** Background of the 3D mesh view (RGBA 0–1): mid-dark, so every mesh colour stands out. */
export const MESH_BACKGROUND = [0.16, 0.19, 0.22, 1];
/** File endings the server accepts; ".nii.gz" before ".nii" only matters for messages. */
export const ACCEPTED_EXTENSIONS = ['.nii.gz', '.nii', '.mgz', '.zip'];

/**
 * Why a file cannot be uploaded, or null when it looks fine. The server checks again
 * and has the last word; this only saves a pointless upload.
 * @param {File} file the chosen file
 * @param {number} maxBytes largest accepted size
 * @returns {string|null} a message for the person
 */
export function checkFile(file, maxBytes) {
  const name = file.name.toLowerCase();
  if (!ACCEPTED_EXTENSIONS.some((ext) => name.endsWith(ext))) {
    return (
      `“${file.name}” is not a supported file. Choose a NIfTI (.nii or .nii.gz), ` +
      'FreeSurfer (.mgz) or zipped DICOM series (.zip).'
    );
  }
  if (file.size === 0) {
    return `“${file.name}” is empty.`;
  }
  if (file.size > maxBytes) {
    return `“${file.name}” is ${formatBytes(file.size)}; the limit is ${formatBytes(maxBytes)}.`;
  }
  return null;
}

/**
 * The time-remaining line for a countdown.
 * @param {number|null} deadlineMs when the job should end, epoch ms; null if unknown
 * @param {number} nowMs current time, epoch ms
 * @returns {string}
 */
export function etaText(deadlineMs, nowMs) {
  if (deadlineMs === null) {
    return 'estimating…';
  }
  const remaining = (deadlineMs - nowMs) / 1000;
  if (remaining > -60) {
    return formatRemaining(Math.max(remaining, 0));
  }
  return 'a little longer than expected';
}

export class App {
  /**
   * @param {View} view the page
   * @param {JobStore} store the remembered job
   * @param {Preview} preview the result viewer
   * @param {OptionsView} options the print options form
   * @param {() => number} [now] clock in epoch ms
   */
  constructor(view, store, preview, options, now = Date.now) {
    this.view = view;
    this.store = store;
    this.preview = preview;
    this.options = options;
    this.now = now;
    /** @type {File|null} file chosen for upload */
    this.file = null;
    /** @type {import('./api.js').UploadHandle|null} upload in flight */
    this.upload = null;
    /** @type {string|null} job on screen */
    this.jobId = null;
    /** Bumped whenever the job on screen changes, so late answers are ignored. */
    this.generation = 0;
    /** @type {number|undefined} pending poll */
    this.pollTimer = undefined;
    /** @type {number|undefined} ETA countdown */
    this.etaTimer = undefined;
    /** @type {number|null} expected end of the job, epoch ms */
    this.etaDeadline = null;
    /** @type {string|null} a failed cancel, kept on screen across polls */
    this.cancelError = null;
    /** Whether a download check is in flight. */
    this.downloading = false;
    /** Whether a re-make request is in flight. */
    this.remaking = false;
    /** @type {string|null} completed job whose options the form shows */
    this.optionsJobId = null;
    /** @type {object|null} `result` of that job */
    this.optionsResult = null;
  }

  /**
   * Wire the page and decide what to show first.
   */
  start() {
    const { view } = this;
    view.setMaxSizeText(formatBytes(view.maxUploadBytes()));
    view.renderUploadChoices(structureChoices(null), FORMAT_CHOICES, DEFAULT_OPTIONS);
    view.onResumeCheck(() => this.resume());
    view.onStartNew(() => this.startNew());
    view.onFileChosen((file) => this.chooseFile(file));
    view.onUploadSubmit(() => this.sendFile());
    view.onUploadAbort(() => this.upload && this.upload.abort());
    view.onCancelJob(() => this.cancel());
    view.onDownload(() => this.download());
    this.options.onSubmit(() => this.remake());
    this.preview.onReport = (jobId, report) => this.fillOptions(jobId, report);
    view.guardUnload(() => this.upload !== null);

    const stored = this.rememberedJob();
    if (stored) {
      view.showResumePrompt(formatAge(secondsSince(stored.created_at, this.now())), false);
    } else {
      view.showUploadForm(false);
    }
    this.showStats();
  }

  /**
   * The stored job if it is still worth offering; an entry past the 24 h lifetime
   * is removed without asking.
   * @returns {import('./store.js').StoredJob|null}
   */
  rememberedJob() {
    const stored = this.store.load();
    if (stored && isPastLifetime(stored, this.now())) {
      this.store.clear();
      return null;
    }
    return stored;
  }

  // ---- Resume prompt -------------------------------------------------------------

  /**
   * Check Status: follow the remembered job.
   */
  resume() {
    const stored = this.rememberedJob();
    if (!stored) {
      // Storage was cleared or the job aged out while the prompt was open.
      this.view.showUploadForm(true);
      return;
    }
    this.watch(stored.job_id, null);
  }

  /**
   * Start New Upload: forget any job and show an empty form.
   */
  startNew() {
    this.stopWatching();
    this.preview.close();
    this.jobId = null;
    this.store.clear();
    this.file = null;
    this.view.showUploadForm(true);
  }

  // ---- Uploading -----------------------------------------------------------------

  /**
   * A file was picked or dropped: show it, and say now if it cannot be uploaded.
   * @param {File} file the file
   */
  chooseFile(file) {
    const problem = checkFile(file, this.view.maxUploadBytes());
    this.file = problem === null ? file : null;
    this.view.showChosenFile(file.name, formatBytes(file.size), problem === null);
    this.view.showUploadError(problem);
  }

  /**
   * Upload the chosen file, then follow the job the server created.
   */
  async sendFile() {
    const { view } = this;
    if (!this.file || this.upload) {
      return;
    }
    const file = this.file;
    this.store.clear();
    view.showUploadError(null);
    view.showUploading(true);
    const choices = view.uploadChoices();
    const fields = choices
      ? { structures: choices.structures.join(','), formats: choices.formats.join(',') }
      : {};
    this.upload = api.uploadScan(file, (sent, total) => {
      const percent = total > 0 ? Math.min(100, (sent / total) * 100) : 0;
      const text =
        total > 0 && sent >= total
          ? 'done, checking the file…'
          : `${formatBytes(sent)} of ${formatBytes(total)} (${Math.floor(percent)}%)`;
      view.setUploadProgress(percent, text);
    }, fields);
    let job;
    try {
      job = await this.upload.done;
    } catch (err) {
      view.showUploading(false);
      if (err.code !== 'aborted') {
        view.showUploadError(err.message);
      }
      return;
    } finally {
      this.upload = null;
    }
    this.file = null;
    this.store.save({
      job_id: job.job_id,
      created_at: job.created_at || new Date(this.now()).toISOString(),
    });
    this.watch(job.job_id, { progress_percent: 0, current_step: null, ...job });
  }

  // ---- Following a job -----------------------------------------------------------

  /**
   * Show a job and poll it until it ends.
   * @param {string} jobId the job
   * @param {object|null} first a status-shaped body to draw before the first poll, if any
   */
  watch(jobId, first) {
    this.stopWatching();
    this.jobId = jobId;
    this.cancelError = null;
    this.view.setCancelBusy(false); // a poll must not re-enable it while a cancel is in flight
    if (jobId !== this.preview.jobId) {
      this.preview.close();
    }
    this.view.setDownloadUrl(api.downloadUrl(jobId));
    if (first) {
      this.showStatus(first, true);
    } else {
      this.view.renderJob(pendingJob(jobId), true);
    }
    this.etaTimer = window.setInterval(() => this.tickEta(), ETA_TICK_MS);
    this.poll(this.generation, 0);
  }

  /**
   * Stop polling and counting down; answers still in flight will be ignored.
   */
  stopWatching() {
    this.generation += 1;
    window.clearTimeout(this.pollTimer);
    window.clearInterval(this.etaTimer);
    this.pollTimer = undefined;
    this.etaTimer = undefined;
  }

  /**
   * Ask for the job's status once, draw it, and schedule the next poll unless the job
   * has ended. Network trouble backs off and tries again; a 404 ends the job.
   * @param {number} generation the watch this poll belongs to
   * @param {number} failures consecutive failed polls so far
   */
  async poll(generation, failures) {
    const jobId = this.jobId;
    let status;
    try {
      status = await api.fetchStatus(jobId);
    } catch (err) {
      if (generation !== this.generation) {
        return;
      }
      if (err.jobGone) {
        this.jobGone();
        return;
      }
      this.view.showConnectionProblem(`${err.message} Trying again…`);
      const delay = Math.min(POLL_INTERVAL_MS * 2 ** (failures + 1), MAX_POLL_BACKOFF_MS);
      this.pollTimer = window.setTimeout(() => this.poll(generation, failures + 1), delay);
      return;
    }
    if (generation !== this.generation) {
      return;
    }
    this.showStatus(status, false);
    if (isTerminal(status)) {
      this.finished(status);
      return;
    }
    this.pollTimer = window.setTimeout(() => this.poll(generation, 0), POLL_INTERVAL_MS);
  }

  /**
   * Draw a status body and restart the countdown from its `eta_seconds`.
   * @param {object} status the status body
   * @param {boolean} focus whether to move focus to the job card
   */
  showStatus(status, focus) {
    const vm = describeJob(status);
    if (this.cancelError && !vm.error && vm.canCancel) {
      vm.error = this.cancelError;
    }
    this.view.renderJob(vm, focus);
    const eta = status.eta_seconds;
    this.etaDeadline =
      typeof eta === 'number' && Number.isFinite(eta) ? this.now() + eta * 1000 : null;
    this.tickEta();
  }

  /**
   * Redraw the time remaining.
   */
  tickEta() {
    this.view.setEta(etaText(this.etaDeadline, this.now()));
  }

  /**
   * The job reached a final status: stop, and forget it where there is nothing left
   * to come back for.
   * @param {object} status the final status body
   */
  finished(status) {
    this.stopWatching();
    if (status.status === 'expired' || status.status === 'cancelled') {
      this.store.clear();
    }
    if (status.status === 'completed') {
      this.showResult(status);
    }
  }

  /**
   * A job completed: fill the print options with what it was made with, and show its scan,
   * label map and meshes.
   * @param {object} status the completed job's status body
   */
  showResult(status) {
    const jobId = String(status.job_id);
    const result = status.result || {};
    if (this.optionsJobId !== jobId) {
      this.optionsJobId = jobId;
      this.optionsResult = result;
      this.options.render(optionsFromResult(result), structureChoices(result), FORMAT_CHOICES);
    }
    this.preview.show(jobId, result);
  }

  /**
   * The job's report.json arrived: fill the form with the options it records, unless the
   * person has started changing them.
   * @param {string} jobId the job it belongs to
   * @param {object} report the parsed report
   */
  fillOptions(jobId, report) {
    if (jobId !== this.optionsJobId || this.options.edited) {
      return;
    }
    const result = this.optionsResult;
    this.options.render(
      optionsFromResult(result, report),
      structureChoices(result),
      FORMAT_CHOICES,
    );
  }

  /**
   * The server does not know the job (404/410, or it expired): say so and forget it.
   */
  jobGone() {
    const jobId = this.jobId;
    this.stopWatching();
    this.store.clear();
    this.view.renderJob(goneJob(jobId), false);
  }

  /**
   * Cancel the job on screen.
   */
  async cancel() {
    const generation = this.generation;
    const jobId = this.jobId;
    this.cancelError = null;
    this.view.setCancelBusy(true);
    try {
      const body = await api.cancelJob(jobId);
      if (generation !== this.generation) {
        return;
      }
      const status = { job_id: jobId, ...body, status: 'cancelled' };
      this.showStatus(status, true);
      this.finished(status);
    } catch (err) {
      if (generation !== this.generation) {
        return;
      }
      if (err.jobGone) {
        this.jobGone();
        return;
      }
      if (err.code === 'already_finished') {
        // It ended meanwhile; the next poll (at most POLL_INTERVAL_MS away) draws how.
        // Polling now instead could start a second poll chain beside one in flight.
        return;
      }
      this.cancelError = `Could not cancel: ${err.message}`;
      this.view.showJobError(this.cancelError);
      this.view.setCancelBusy(false);
    }
  }

  /**
   * Download was clicked: check the zip is still there, then fetch it and forget the
   * job (it is done with). A job gone meanwhile is reported like any other.
   */
  async download() {
    if (this.downloading) {
      return;
    }
    const generation = this.generation;
    const jobId = this.jobId;
    this.downloading = true;
    this.view.setDownloadBusy(true);
    try {
      await api.checkDownload(jobId);
    } catch (err) {
      if (generation === this.generation) {
        if (err.jobGone) {
          this.jobGone();
        } else {
          this.view.showJobError(`Could not download: ${err.message}`);
        }
      }
      return;
    } finally {
      this.downloading = false;
      this.view.setDownloadBusy(false);
    }
    if (generation !== this.generation) {
      return;
    }
    this.store.clear();
    this.view.startDownload();
    this.view.showDownloadStarted('Your download has started.');
  }

  // ---- Print options -------------------------------------------------------------

  /**
   * Make the files again with the options on the form: ask the server for a re-make of the
   * completed job on screen, then follow the new job like an upload's. A refusal is shown
   * next to the option it names.
   */
  async remake() {
    if (this.remaking || !this.jobId) {
      return;
    }
    const { body, errors } = buildRequest(this.options.values());
    if (!body) {
      this.options.showErrors(errors);
      return;
    }
    const generation = this.generation;
    const jobId = this.jobId;
    this.options.clearErrors();
    this.options.setBusy(true);
    this.remaking = true;
    let job;
    try {
      job = await api.remakeMeshes(jobId, body);
    } catch (err) {
      if (generation !== this.generation) {
        return;
      }
      if (err.code === 'invalid_option') {
        const field = fieldOfError(err);
        if (field) {
          this.options.showErrors({ [field]: err.message });
          return;
        }
      }
      if (err.jobGone) {
        this.jobGone();
        return;
      }
      this.options.showFormError(`Could not make the files again: ${err.message}`);
      return;
    } finally {
      this.remaking = false;
      this.options.setBusy(false);
    }
    if (generation !== this.generation) {
      return;
    }
    this.store.save({
      job_id: job.job_id,
      created_at: job.created_at || new Date(this.now()).toISOString(),
    });
    this.watch(job.job_id, { progress_percent: 0, current_step: null, status: 'queued', ...job });
  }

  // ---- Footer --------------------------------------------------------------------

  /**
   * Show a one-line summary of the service in the footer; stay quiet on failure.
   */
  async showStats() {
    let stats;
    try {
      stats = await api.fetchStats();
    } catch {
      return;
    }
    const limit = Number(stats.max_upload_bytes);
    if (Number.isFinite(limit) && limit > 0) {
      this.view.setMaxUploadBytes(limit);
      this.view.setMaxSizeText(formatBytes(limit));
    }
    const completed = Number(stats.completed_jobs);
    if (!Number.isInteger(completed) || completed <= 0) {
      return;
    }
    let line = `${completed.toLocaleString('en')} ${completed === 1 ? 'scan' : 'scans'} processed`;
    const typical = formatRemaining(Number(stats.average_processing_time_seconds));
    if (stats.average_processing_time_seconds && typical) {
      line += `; one usually takes ${typical}`;
    }
    this.view.setStatsLine(`${line}.`);
  }
}

new App(
  new View(document),
  new JobStore(),
  new Preview(new PreviewView(document), api, {
    openSlices: (canvas) => SliceScene.open(canvas),
    openMeshes: (canvas) => MeshScene.open(canvas, MESH_BACKGROUND),
  }),
  new OptionsView(document),
).start();
