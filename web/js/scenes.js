/**
 * The page's only contact with niivue (`web/vendor/niivue/`, a pinned @niivue/niivue release;
 * see its VERSION file). Two scenes, each on its own canvas: the scan's slices with the label
 * map over them, and the meshes in 3D.
 *
 * niivue (3 MB) is imported only when a result is shown, so the upload page never loads it.
 */

/** @type {Promise<any>|null} the niivue module, once asked for */
let niivueModule = null;

/**
 * The niivue module, imported on first use.
 * @returns {Promise<any>}
 */
function loadNiivue() {
  if (!niivueModule) {
    niivueModule = import('../vendor/niivue/niivue.js').catch((err) => {
      niivueModule = null;
      throw err;
    });
  }
  return niivueModule;
}

/** Raised when this browser cannot draw the scenes (no WebGL 2). */
export class NoWebGLError extends Error {
  constructor() {
    super('This browser cannot draw 3D graphics (WebGL 2 is off or missing).');
    this.name = 'NoWebGLError';
  }
}

/**
 * Fail early, with words a person understands, where niivue would fail obscurely.
 * @param {Document} doc the page's document
 * @throws {NoWebGLError}
 */
function requireWebGL2(doc) {
  const probe = doc.createElement('canvas');
  const gl = probe.getContext('webgl2');
  if (!gl) {
    throw new NoWebGLError();
  }
  const lose = gl.getExtension('WEBGL_lose_context');
  if (lose) {
    lose.loseContext();
  }
}

/**
 * Options shared by both scenes: quiet, no drag-and-drop of the person's own files, canvas
 * sized by the page's CSS.
 * @param {number[]} backColor RGBA 0–1
 * @returns {object}
 */
function baseOptions(backColor) {
  return {
    backColor,
    isResizeCanvas: true,
    dragAndDropEnabled: false,
    logLevel: 'error',
    loadingText: '',
    show3Dcrosshair: false,
    isColorbar: false,
    isOrientCube: false,
  };
}

/**
 * @typedef {object} LabelColour
 * @property {number} label the value in the label map
 * @property {string} name what the label is, e.g. "White matter"
 * @property {number[]} rgb red, green, blue 0–255
 */

/** The scan's slices with the label map as a coloured overlay. */
export class SliceScene {
  /**
   * @param {any} nv a Niivue instance attached to the canvas
   * @param {any} niivue the niivue module
   */
  constructor(nv, niivue) {
    this.nv = nv;
    this.niivue = niivue;
    /** @type {(frac: number[]) => void} */
    this.onMove = () => {};
    nv.onLocationChange = (data) => {
      if (data && data.frac) {
        this.onMove(Array.from(data.frac));
      }
    };
  }

  /**
   * Attach a slice scene to a canvas.
   * @param {HTMLCanvasElement} canvas where to draw
   * @returns {Promise<SliceScene>}
   * @throws {NoWebGLError} when the browser has no WebGL 2
   */
  static async open(canvas) {
    requireWebGL2(canvas.ownerDocument);
    const niivue = await loadNiivue();
    const nv = new niivue.Niivue({
      ...baseOptions([0, 0, 0, 1]),
      crosshairColor: [1, 1, 1, 0.6],
      multiplanarShowRender: niivue.SHOW_RENDER.NEVER,
      isNearestInterpolation: false,
    });
    await nv.attachToCanvas(canvas);
    return new SliceScene(nv, niivue);
  }

  /**
   * Show a scan with its label map over it.
   * @param {ArrayBuffer} scan the brain-only scan (NIfTI, gzipped or not)
   * @param {ArrayBuffer} labels the label map on the same grid
   * @param {LabelColour[]} colours one per label drawn; other labels stay clear
   * @param {number} opacity of the overlay, 0–1
   */
  async show(scan, labels, colours, opacity) {
    // Both images are read first and the label colours set before they reach the GPU, so the
    // volumes are uploaded and composed once (a buffer as `url`, with a `name` for its format,
    // is how niivue takes bytes it did not fetch).
    const { NVImage } = this.niivue;
    const [scanImage, labelImage] = await Promise.all([
      NVImage.loadFromUrl({ url: scan, name: 'brain.nii.gz' }),
      NVImage.loadFromUrl({ url: labels, name: 'labels.nii.gz', opacity }),
    ]);
    const rows = [{ label: 0, name: 'Background', rgb: [0, 0, 0] }, ...colours];
    labelImage.setColormapLabel({
      R: rows.map((c) => c.rgb[0]),
      G: rows.map((c) => c.rgb[1]),
      B: rows.map((c) => c.rgb[2]),
      A: rows.map((c) => (c.label === 0 ? 0 : 255)),
      I: rows.map((c) => c.label),
      labels: rows.map((c) => c.name),
    });
    this.nv.volumes = [];
    this.nv.addVolume(scanImage);
    this.nv.addVolume(labelImage);
  }

  /**
   * @param {number} opacity of the label overlay, 0–1
   */
  setOverlayOpacity(opacity) {
    if (this.nv.volumes.length > 1) {
      this.nv.setOpacity(1, opacity);
    }
  }

  /**
   * @param {'multiplanar'|'axial'|'coronal'|'sagittal'} layout which planes to show
   */
  setLayout(layout) {
    const types = this.niivue.SLICE_TYPE;
    const map = {
      multiplanar: types.MULTIPLANAR,
      axial: types.AXIAL,
      coronal: types.CORONAL,
      sagittal: types.SAGITTAL,
    };
    this.nv.setSliceType(map[layout] ?? types.MULTIPLANAR);
  }

  /**
   * Move the slices: where each plane cuts, as fractions 0–1 along left→right,
   * back→front and bottom→top.
   * @param {number[]} frac three fractions
   */
  moveTo(frac) {
    this.nv.scene.crosshairPos = this.nv.scene.crosshairPos.map((old, i) =>
      Number.isFinite(frac[i]) ? Math.min(1, Math.max(0, frac[i])) : old,
    );
    this.nv.drawScene();
    this.onMove(Array.from(this.nv.scene.crosshairPos));
  }

  /**
   * What is loaded, for the page's own description and its tests.
   * @returns {{volumes: string[], opacity: number|null, position: number[]}}
   */
  state() {
    const volumes = this.nv.volumes;
    return {
      volumes: volumes.map((v) => v.name),
      opacity: volumes.length > 1 ? volumes[1].opacity : null,
      position: Array.from(this.nv.scene.crosshairPos),
    };
  }
}

/**
 * @typedef {object} SceneMesh
 * @property {string} key the structure's slug, used to show or hide it
 * @property {string} fileName its file name (the extension tells niivue the format)
 * @property {ArrayBuffer} data the mesh file
 * @property {number[]} rgb its colour, 0–255
 * @property {number} opacity 0–1
 */

/** The meshes in 3D, each in its own colour, each shown or hidden on its own. */
export class MeshScene {
  /**
   * @param {any} nv a Niivue instance attached to the canvas
   * @param {any} niivue the niivue module
   */
  constructor(nv, niivue) {
    this.nv = nv;
    this.niivue = niivue;
    /** @type {Map<string, any>} structure slug → NVMesh */
    this.byKey = new Map();
  }

  /**
   * Attach a mesh scene to a canvas.
   * @param {HTMLCanvasElement} canvas where to draw
   * @param {number[]} backColor RGBA 0–1
   * @returns {Promise<MeshScene>}
   * @throws {NoWebGLError} when the browser has no WebGL 2
   */
  static async open(canvas, backColor) {
    requireWebGL2(canvas.ownerDocument);
    const niivue = await loadNiivue();
    const nv = new niivue.Niivue(baseOptions(backColor));
    await nv.attachToCanvas(canvas);
    nv.setSliceType(niivue.SLICE_TYPE.RENDER);
    return new MeshScene(nv, niivue);
  }

  /**
   * Show these meshes, replacing any shown before.
   * @param {SceneMesh[]} meshes the meshes
   */
  async show(meshes) {
    await this.nv.loadMeshes(
      meshes.map((m) => ({
        url: m.fileName,
        name: m.fileName, // niivue tells the format by the name's extension
        buffer: m.data,
        rgba255: [...m.rgb, 255],
        opacity: m.opacity,
      })),
    );
    this.byKey = new Map(this.nv.meshes.map((mesh, i) => [meshes[i].key, mesh]));
    this.nv.setSliceType(this.niivue.SLICE_TYPE.RENDER);
  }

  /**
   * Show or hide one structure.
   * @param {string} key the structure's slug
   * @param {boolean} visible whether to draw it
   */
  setVisible(key, visible) {
    const mesh = this.byKey.get(key);
    if (mesh) {
      this.nv.setMeshProperty(mesh.id, 'visible', visible);
      this.nv.drawScene();
    }
  }

  /**
   * Turn the view.
   * @param {number} azimuth degrees around the vertical axis
   * @param {number} elevation degrees above the horizon
   */
  turn(azimuth, elevation) {
    this.nv.setRenderAzimuthElevation(azimuth, elevation);
  }

  /**
   * What is loaded, for the page's own description and its tests.
   * @returns {{meshes: {key: string, visible: boolean, triangles: number}[]}}
   */
  state() {
    return {
      meshes: [...this.byKey].map(([key, mesh]) => ({
        key,
        visible: mesh.visible !== false,
        triangles: mesh.tris ? mesh.tris.length / 3 : 0,
      })),
    };
  }
}
