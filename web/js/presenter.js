/**
 * What the page says about a job, worked out from a `/status` body.
 *
 * Pure: no DOM, no clock, no requests (from api.js it takes only the wording for a gone job).
 * app.js feeds it server answers and hands the result to view.js, which only draws it.
 */

import { GONE_MESSAGE } from './api.js';
import { formatCount, formatElapsed, formatQueuePosition, formatVolume } from './format.js';

/** Statuses after which a job never changes again (except to expire). */
export const TERMINAL_STATUSES = new Set(['completed', 'failed', 'expired', 'cancelled']);

/**
 * @typedef {object} StructureRow
 * @property {string} name structure name, e.g. "Left hippocampus"
 * @property {string} volume volume in words, e.g. "4.1 mL"
 * @property {string} triangles triangle count, e.g. "12,345"
 * @property {string} printable "Yes" or "Needs repair"
 */

/**
 * @typedef {object} JobViewModel
 * @property {string} jobId job id
 * @property {string} status server status, or "unknown" before the first answer
 * @property {string} title heading of the job card
 * @property {string} statusText short status label (never colour alone)
 * @property {number|null} percent progress 0–100, null to hide the bar
 * @property {string|null} step current step, null to hide
 * @property {string|null} queueText "You are 3rd in line", null to hide
 * @property {boolean} showEta whether the time-remaining line applies
 * @property {string|null} notice neutral information (retry, cancellation)
 * @property {string|null} error failure message, shown as an alert
 * @property {boolean} canCancel whether the Cancel button applies
 * @property {boolean} canStartNew whether the Start New Upload button applies
 * @property {boolean} downloadable whether the Download button applies
 * @property {StructureRow[]|null} structures result rows when completed
 * @property {string|null} resultNote processing time and availability when completed
 * @property {string[]} notes remarks the pipeline made about the scan
 */

/**
 * A progress value from the server, clamped to 0–100, or a fallback.
 * @param {unknown} value `progress_percent` as received
 * @param {number} fallback used when the value is not a number
 * @returns {number}
 */
function clampPercent(value, fallback) {
  const n = Number(value);
  if (value === null || value === undefined || !Number.isFinite(n)) {
    return fallback;
  }
  return Math.min(100, Math.max(0, Math.round(n)));
}

/**
 * A structure's name as a person reads it: "white_matter" → "White matter".
 * @param {string} name the name the pipeline gave it
 * @returns {string}
 */
export function displayName(name) {
  const spaced = name.replace(/[_-]+/g, ' ').replace(/\s+/g, ' ').trim();
  return spaced ? spaced.charAt(0).toUpperCase() + spaced.slice(1) : 'Unnamed structure';
}

/**
 * The result table rows of a completed job.
 * @param {object|null|undefined} result `result` of the status body
 * @returns {StructureRow[]}
 */
export function structureRows(result) {
  const structures = result && Array.isArray(result.structures) ? result.structures : [];
  return structures.map((s) => ({
    name: typeof s.display_name === 'string' ? s.display_name : displayName(String(s.name ?? '')),
    volume: formatVolume(s.volume_ml),
    triangles: formatCount(s.triangles),
    printable: s.watertight === true ? 'Yes' : s.watertight === false ? 'Needs repair' : '–',
  }));
}

/**
 * Remarks the pipeline made about the scan ("only the first volume was used", …).
 * @param {object|null|undefined} result `result` of the status body
 * @returns {string[]}
 */
function resultNotes(result) {
  const notes = result && Array.isArray(result.notes) ? result.notes : [];
  return notes.filter((note) => typeof note === 'string' && note.trim() !== '');
}

/**
 * A sentence about how long processing took and until when the files are kept.
 * @param {object} status status body of a completed job
 * @returns {string}
 */
function resultNote(status) {
  const parts = [];
  const started = Date.parse(status.started_at);
  const finished = Date.parse(status.finished_at);
  if (Number.isFinite(started) && Number.isFinite(finished) && finished >= started) {
    parts.push(`Processed in ${formatElapsed((finished - started) / 1000)}.`);
  }
  const expires = Date.parse(status.expires_at);
  if (Number.isFinite(expires)) {
    const when = new Date(expires).toLocaleString(undefined, {
      dateStyle: 'medium',
      timeStyle: 'short',
    });
    parts.push(`Download before ${when}; the files are deleted after that.`);
  }
  return parts.join(' ');
}

/**
 * "Your job is being retried (attempt 2 of 3)." when a running job is on a later attempt.
 * @param {object} status status body
 * @returns {string|null}
 */
function retryNotice(status) {
  const attempt = Number(status.attempt);
  if (!Number.isInteger(attempt) || attempt <= 1) {
    return null;
  }
  const max = Number(status.max_attempts);
  const of = Number.isInteger(max) && max >= attempt ? ` of ${max}` : '';
  return `An earlier try did not finish, so your job is being retried (attempt ${attempt}${of}).`;
}

/**
 * The view model for a job the server has not answered about yet.
 * @param {string} jobId job id
 * @returns {JobViewModel}
 */
export function pendingJob(jobId) {
  return {
    jobId,
    status: 'unknown',
    title: 'Checking your job…',
    statusText: 'Checking',
    percent: null,
    step: null,
    queueText: null,
    showEta: false,
    notice: null,
    error: null,
    canCancel: false,
    canStartNew: false,
    downloadable: false,
    structures: null,
    resultNote: null,
    notes: [],
  };
}

/**
 * The view model for a job the server no longer knows (404, or status "expired").
 * @param {string} jobId job id
 * @returns {JobViewModel}
 */
export function goneJob(jobId) {
  return {
    ...pendingJob(jobId),
    status: 'expired',
    title: 'Job not available',
    statusText: 'Expired or not found',
    error: GONE_MESSAGE,
    canStartNew: true,
  };
}

/**
 * The view model for a `/status` body.
 * @param {object} status the parsed status body
 * @returns {JobViewModel}
 */
export function describeJob(status) {
  const base = pendingJob(String(status.job_id));
  switch (status.status) {
    case 'queued': {
      const position = Number(status.queue_position);
      return {
        ...base,
        status: 'queued',
        title: 'Waiting in line',
        statusText: 'Queued',
        percent: clampPercent(status.progress_percent, 0),
        step: status.current_step || 'Waiting for a free worker',
        queueText:
          Number.isInteger(position) && position > 0 ? formatQueuePosition(position) : null,
        showEta: true,
        notice: retryNotice(status),
        canCancel: true,
      };
    }
    case 'processing':
      return {
        ...base,
        status: 'processing',
        title: 'Processing your MRI…',
        statusText: 'Processing',
        percent: clampPercent(status.progress_percent, 0),
        step: status.current_step || 'Starting',
        showEta: true,
        notice: retryNotice(status),
        canCancel: true,
      };
    case 'completed':
      return {
        ...base,
        status: 'completed',
        title: 'Your meshes are ready',
        statusText: 'Completed',
        downloadable: true,
        canStartNew: true,
        structures: structureRows(status.result),
        resultNote: resultNote(status),
        notes: resultNotes(status.result),
      };
    case 'failed':
      return {
        ...base,
        status: 'failed',
        title: 'Processing failed',
        statusText: 'Failed',
        error:
          typeof status.error === 'string' && status.error.trim() !== ''
            ? status.error
            : 'Something went wrong while processing your scan.',
        canStartNew: true,
      };
    case 'cancelled':
      return {
        ...base,
        status: 'cancelled',
        title: 'Job cancelled',
        statusText: 'Cancelled',
        notice: 'This job was cancelled. Nothing more will be processed.',
        canStartNew: true,
      };
    case 'expired':
      return goneJob(base.jobId);
    default:
      return { ...base, notice: `The server reported an unexpected status: ${status.status}.` };
  }
}

/**
 * Whether polling should stop after this status.
 * @param {object} status the parsed status body
 * @returns {boolean}
 */
export function isTerminal(status) {
  return TERMINAL_STATUSES.has(status.status);
}
