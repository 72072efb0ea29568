/**
 * A small WebGL viewer for one STL mesh: parse, centre, light, turn with pointer,
 * wheel or keyboard. No library; WebGL 1 so it runs nearly everywhere.
 */

/**
 * @typedef {object} Mesh
 * @property {Float32Array} positions xyz per vertex, three vertices per triangle
 * @property {Float32Array} normals flat face normal per vertex
 * @property {number} triangles triangle count
 * @property {number[]} center centre of the bounding box
 * @property {number} radius distance from the centre to the farthest vertex
 */

/**
 * Face normals and bounds for a triangle soup.
 * @param {Float32Array} positions xyz per vertex
 * @returns {Mesh}
 */
function finishMesh(positions) {
  const normals = new Float32Array(positions.length);
  const min = [Infinity, Infinity, Infinity];
  const max = [-Infinity, -Infinity, -Infinity];
  for (let i = 0; i < positions.length; i += 9) {
    const ax = positions[i + 3] - positions[i];
    const ay = positions[i + 4] - positions[i + 1];
    const az = positions[i + 5] - positions[i + 2];
    const bx = positions[i + 6] - positions[i];
    const by = positions[i + 7] - positions[i + 1];
    const bz = positions[i + 8] - positions[i + 2];
    let nx = ay * bz - az * by;
    let ny = az * bx - ax * bz;
    let nz = ax * by - ay * bx;
    const length = Math.hypot(nx, ny, nz) || 1;
    nx /= length;
    ny /= length;
    nz /= length;
    for (let v = 0; v < 9; v += 3) {
      normals[i + v] = nx;
      normals[i + v + 1] = ny;
      normals[i + v + 2] = nz;
      for (let axis = 0; axis < 3; axis += 1) {
        const value = positions[i + v + axis];
        if (value < min[axis]) min[axis] = value;
        if (value > max[axis]) max[axis] = value;
      }
    }
  }
  const center = [0, 1, 2].map((axis) => (min[axis] + max[axis]) / 2 || 0);
  let farthest = 0;
  for (let i = 0; i < positions.length; i += 3) {
    const d2 =
      (positions[i] - center[0]) ** 2 +
      (positions[i + 1] - center[1]) ** 2 +
      (positions[i + 2] - center[2]) ** 2;
    if (d2 > farthest) farthest = d2;
  }
  const radius = Math.sqrt(farthest) || 1;
  return { positions, normals, triangles: positions.length / 9, center, radius };
}

/**
 * Parse an STL file, binary or ASCII.
 * @param {ArrayBuffer} buffer the file
 * @returns {Mesh}
 * @throws {Error} when it is not an STL with at least one triangle
 */
export function parseStl(buffer) {
  const data = new DataView(buffer);
  if (buffer.byteLength >= 84) {
    const count = data.getUint32(80, true);
    if (84 + count * 50 === buffer.byteLength && count > 0) {
      const positions = new Float32Array(count * 9);
      for (let t = 0; t < count; t += 1) {
        const base = 84 + t * 50 + 12;
        for (let k = 0; k < 9; k += 1) {
          positions[t * 9 + k] = data.getFloat32(base + k * 4, true);
        }
      }
      return finishMesh(positions);
    }
  }
  const text = new TextDecoder().decode(buffer);
  const numbers = [];
  const vertex = /vertex\s+(\S+)\s+(\S+)\s+(\S+)/g;
  for (let match = vertex.exec(text); match; match = vertex.exec(text)) {
    numbers.push(Number(match[1]), Number(match[2]), Number(match[3]));
  }
  if (numbers.length < 9 || numbers.length % 9 !== 0 || numbers.some(Number.isNaN)) {
    throw new Error('The mesh file could not be read.');
  }
  return finishMesh(Float32Array.from(numbers));
}

// ---- 4×4 matrices, column-major as WebGL wants them ---------------------------------

/**
 * Product a·b of two 4×4 matrices.
 * @param {Float32Array} a left
 * @param {Float32Array} b right
 * @returns {Float32Array}
 */
function multiply(a, b) {
  const out = new Float32Array(16);
  for (let col = 0; col < 4; col += 1) {
    for (let row = 0; row < 4; row += 1) {
      let sum = 0;
      for (let k = 0; k < 4; k += 1) {
        sum += a[k * 4 + row] * b[col * 4 + k];
      }
      out[col * 4 + row] = sum;
    }
  }
  return out;
}

/**
 * Perspective projection.
 * @param {number} fovY vertical field of view in radians
 * @param {number} aspect width / height
 * @param {number} near near plane distance
 * @param {number} far far plane distance
 * @returns {Float32Array}
 */
function perspective(fovY, aspect, near, far) {
  const f = 1 / Math.tan(fovY / 2);
  const out = new Float32Array(16);
  out[0] = f / aspect;
  out[5] = f;
  out[10] = (far + near) / (near - far);
  out[11] = -1;
  out[14] = (2 * far * near) / (near - far);
  return out;
}

/**
 * Rotation about the x axis.
 * @param {number} angle radians
 * @returns {Float32Array}
 */
function rotateX(angle) {
  const c = Math.cos(angle);
  const s = Math.sin(angle);
  return new Float32Array([1, 0, 0, 0, 0, c, s, 0, 0, -s, c, 0, 0, 0, 0, 1]);
}

/**
 * Rotation about the y axis.
 * @param {number} angle radians
 * @returns {Float32Array}
 */
function rotateY(angle) {
  const c = Math.cos(angle);
  const s = Math.sin(angle);
  return new Float32Array([c, 0, -s, 0, 0, 1, 0, 0, s, 0, c, 0, 0, 0, 0, 1]);
}

/**
 * Uniform scale then translation.
 * @param {number} scale factor
 * @param {number[]} offset xyz added after scaling
 * @returns {Float32Array}
 */
function scaleTranslate(scale, offset) {
  return new Float32Array([
    scale, 0, 0, 0, 0, scale, 0, 0, 0, 0, scale, 0,
    offset[0], offset[1], offset[2], 1,
  ]);
}

const VERTEX_SHADER = `
attribute vec3 position;
attribute vec3 normal;
uniform mat4 modelViewProjection;
uniform mat4 model;
varying vec3 vNormal;
void main() {
  vNormal = (model * vec4(normal, 0.0)).xyz;
  gl_Position = modelViewProjection * vec4(position, 1.0);
}`;

const FRAGMENT_SHADER = `
precision mediump float;
varying vec3 vNormal;
uniform vec3 color;
void main() {
  vec3 n = normalize(vNormal);
  if (!gl_FrontFacing) { n = -n; }
  float key = max(dot(n, normalize(vec3(0.35, 0.55, 1.0))), 0.0);
  float fill = max(dot(n, normalize(vec3(-0.6, -0.2, 0.4))), 0.0);
  gl_FragColor = vec4(color * (0.28 + 0.62 * key + 0.2 * fill), 1.0);
}`;

/** Vertical field of view, in radians (36°). */
const FIELD_OF_VIEW = Math.PI / 5;
/** Turn per key press, in radians. */
const KEY_STEP = Math.PI / 16;
/** Turn per dragged pixel, in radians. */
const DRAG_STEP = 0.01;
/** Brain-tissue pink, as linear RGB 0–1. */
const MESH_COLOR = [0.86, 0.7, 0.66];

/**
 * Compile one shader.
 * @param {WebGLRenderingContext} gl context
 * @param {number} type gl.VERTEX_SHADER or gl.FRAGMENT_SHADER
 * @param {string} source GLSL
 * @returns {WebGLShader}
 */
function compile(gl, type, source) {
  const shader = gl.createShader(type);
  gl.shaderSource(shader, source);
  gl.compileShader(shader);
  if (!gl.getShaderParameter(shader, gl.COMPILE_STATUS)) {
    throw new Error(`Shader did not compile: ${gl.getShaderInfoLog(shader)}`);
  }
  return shader;
}

export class MeshViewer {
  /**
   * @param {HTMLCanvasElement} canvas where to draw
   * @throws {Error} when the browser offers no WebGL
   */
  constructor(canvas) {
    // preserveDrawingBuffer keeps the picture readable after it is shown, so "Save image"
    // works (and tests can look at it); the viewer only draws on change, so it costs little.
    const gl = canvas.getContext('webgl', {
      antialias: true,
      alpha: true,
      preserveDrawingBuffer: true,
    });
    if (!gl) {
      throw new Error('This browser cannot show 3D graphics here.');
    }
    this.canvas = canvas;
    this.gl = gl;
    this.mesh = null;
    this.count = 0;
    // Meshes come in scanner (RAS) coordinates: turn superior to screen-up, then show
    // the left side, front to the left.
    this.yaw = Math.PI / 2;
    this.pitch = 0.15;
    // Far enough that the mesh's bounding sphere fits the view at any angle.
    this.distance = 1.05 / Math.sin(FIELD_OF_VIEW / 2);
    this.frame = 0;

    const program = gl.createProgram();
    gl.attachShader(program, compile(gl, gl.VERTEX_SHADER, VERTEX_SHADER));
    gl.attachShader(program, compile(gl, gl.FRAGMENT_SHADER, FRAGMENT_SHADER));
    gl.linkProgram(program);
    if (!gl.getProgramParameter(program, gl.LINK_STATUS)) {
      throw new Error(`Shaders did not link: ${gl.getProgramInfoLog(program)}`);
    }
    gl.useProgram(program);
    this.locations = {
      position: gl.getAttribLocation(program, 'position'),
      normal: gl.getAttribLocation(program, 'normal'),
      modelViewProjection: gl.getUniformLocation(program, 'modelViewProjection'),
      model: gl.getUniformLocation(program, 'model'),
      color: gl.getUniformLocation(program, 'color'),
    };
    this.buffers = { position: gl.createBuffer(), normal: gl.createBuffer() };
    gl.uniform3fv(this.locations.color, MESH_COLOR);
    gl.enable(gl.DEPTH_TEST);
    gl.clearColor(0, 0, 0, 0);

    this.listen();
  }

  /**
   * Wire pointer, wheel, keyboard and resize.
   */
  listen() {
    const { canvas } = this;
    let last = null;
    canvas.addEventListener('pointerdown', (event) => {
      last = { x: event.clientX, y: event.clientY };
      canvas.setPointerCapture(event.pointerId);
    });
    canvas.addEventListener('pointermove', (event) => {
      if (!last) {
        return;
      }
      this.turn((event.clientX - last.x) * DRAG_STEP, (event.clientY - last.y) * DRAG_STEP);
      last = { x: event.clientX, y: event.clientY };
    });
    const release = () => {
      last = null;
    };
    canvas.addEventListener('pointerup', release);
    canvas.addEventListener('pointercancel', release);
    canvas.addEventListener(
      'wheel',
      (event) => {
        event.preventDefault();
        this.zoom(Math.exp(event.deltaY * 0.001));
      },
      { passive: false },
    );
    canvas.addEventListener('keydown', (event) => {
      const moves = {
        ArrowLeft: () => this.turn(-KEY_STEP, 0),
        ArrowRight: () => this.turn(KEY_STEP, 0),
        ArrowUp: () => this.turn(0, -KEY_STEP),
        ArrowDown: () => this.turn(0, KEY_STEP),
        '+': () => this.zoom(0.85),
        '=': () => this.zoom(0.85),
        '-': () => this.zoom(1 / 0.85),
      };
      const move = moves[event.key];
      if (move) {
        event.preventDefault();
        move();
      }
    });
    this.resizeObserver = new ResizeObserver(() => this.requestDraw());
    this.resizeObserver.observe(canvas);
  }

  /**
   * Show a mesh, replacing any before it.
   * @param {Mesh} mesh parsed mesh
   */
  show(mesh) {
    const { gl } = this;
    this.mesh = mesh;
    this.count = mesh.triangles * 3;
    gl.bindBuffer(gl.ARRAY_BUFFER, this.buffers.position);
    gl.bufferData(gl.ARRAY_BUFFER, mesh.positions, gl.STATIC_DRAW);
    gl.vertexAttribPointer(this.locations.position, 3, gl.FLOAT, false, 0, 0);
    gl.enableVertexAttribArray(this.locations.position);
    gl.bindBuffer(gl.ARRAY_BUFFER, this.buffers.normal);
    gl.bufferData(gl.ARRAY_BUFFER, mesh.normals, gl.STATIC_DRAW);
    gl.vertexAttribPointer(this.locations.normal, 3, gl.FLOAT, false, 0, 0);
    gl.enableVertexAttribArray(this.locations.normal);
    this.requestDraw();
  }

  /**
   * Turn the mesh.
   * @param {number} dYaw radians about the vertical axis
   * @param {number} dPitch radians about the horizontal axis
   */
  turn(dYaw, dPitch) {
    this.yaw += dYaw;
    this.pitch = Math.max(-Math.PI / 2, Math.min(Math.PI / 2, this.pitch + dPitch));
    this.requestDraw();
  }

  /**
   * Move the camera closer (factor < 1) or further.
   * @param {number} factor distance multiplier
   */
  zoom(factor) {
    this.distance = Math.max(1.2, Math.min(12, this.distance * factor));
    this.requestDraw();
  }

  /**
   * Draw on the next animation frame (once, however often asked).
   */
  requestDraw() {
    if (!this.frame) {
      this.frame = requestAnimationFrame(() => {
        this.frame = 0;
        this.draw();
      });
    }
  }

  /**
   * Draw now.
   */
  draw() {
    const { gl, canvas, mesh } = this;
    const ratio = window.devicePixelRatio || 1;
    const width = Math.max(1, Math.round(canvas.clientWidth * ratio));
    const height = Math.max(1, Math.round(canvas.clientHeight * ratio));
    if (canvas.width !== width || canvas.height !== height) {
      canvas.width = width;
      canvas.height = height;
    }
    gl.viewport(0, 0, width, height);
    gl.clear(gl.COLOR_BUFFER_BIT | gl.DEPTH_BUFFER_BIT);
    if (!mesh) {
      return;
    }
    const scale = 1 / mesh.radius;
    const centre = scaleTranslate(scale, mesh.center.map((c) => -c * scale));
    const upright = rotateX(-Math.PI / 2);
    const turned = multiply(rotateY(this.yaw), multiply(upright, centre));
    const model = multiply(rotateX(this.pitch), turned);
    const viewMatrix = scaleTranslate(1, [0, 0, -this.distance]);
    const projection = perspective(FIELD_OF_VIEW, width / height, 0.1, 100);
    gl.uniformMatrix4fv(
      this.locations.modelViewProjection,
      false,
      multiply(projection, multiply(viewMatrix, model)),
    );
    gl.uniformMatrix4fv(this.locations.model, false, model);
    gl.drawArrays(gl.TRIANGLES, 0, this.count);
  }

  /**
   * Free the GPU memory and stop listening for resizes.
   */
  destroy() {
    this.resizeObserver.disconnect();
    if (this.frame) {
      cancelAnimationFrame(this.frame);
    }
    const lose = this.gl.getExtension('WEBGL_lose_context');
    if (lose) {
      lose.loseContext();
    }
  }
}
