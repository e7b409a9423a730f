package dev.fingerspell.tensor;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Deque;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A contiguous row-major (NCHW) view into a {@link Storage}: the storage, an element offset and a
 * shape. Float32 holds values; int64 holds labels and counters. Tensors that require grad record
 * the ops that use them (see {@link Ops}) so that {@link #backward()} can fill in {@link #grad()};
 * tensors that do not, or that are used inside {@link GradMode#noGrad()}, record nothing.
 */
public final class Tensor {
  private final Storage storage;
  private final long offset;
  private final int[] shape;
  private final Backend backend;

  private boolean requiresGrad;
  private Tensor grad;
  private Node gradFn;

  Tensor(Backend backend, Storage storage, long offset, int... shape) {
    long n = Shape.numel(shape);
    if (offset < 0 || offset + n > storage.numel()) {
      throw new IllegalArgumentException(
          "view of "
              + n
              + " elements at offset "
              + offset
              + " overruns storage of "
              + storage.numel());
    }
    this.backend = backend;
    this.storage = storage;
    this.offset = offset;
    this.shape = shape.clone();
  }

  // ---- creation -------------------------------------------------------------------------------

  /** Zeros on {@code device}. */
  public static Tensor zeros(Device device, DType dtype, int... shape) {
    Backend b = Backends.forDevice(device);
    return new Tensor(b, b.allocate(device, dtype, Shape.numel(shape)), 0, shape);
  }

  /** Float32 zeros on the default device. */
  public static Tensor zeros(int... shape) {
    return zeros(Backends.defaultDevice(), DType.FLOAT32, shape);
  }

  /** Float32 ones on the default device. */
  public static Tensor ones(int... shape) {
    return full(1f, shape);
  }

  /** Float32 {@code value} everywhere, on the default device. */
  public static Tensor full(float value, int... shape) {
    Tensor t = zeros(shape);
    t.backend.fill(t, value);
    return t;
  }

  /** A float32 tensor on the default device holding a copy of {@code data}. */
  public static Tensor of(float[] data, int... shape) {
    return of(Backends.defaultDevice(), data, shape);
  }

  /** A float32 tensor on {@code device} holding a copy of {@code data}. */
  public static Tensor of(Device device, float[] data, int... shape) {
    checkLength(data.length, shape);
    Backend b = Backends.forDevice(device);
    return new Tensor(b, b.upload(device, data), 0, shape);
  }

  /** An int64 tensor on the default device holding a copy of {@code data}. */
  public static Tensor ofLongs(long[] data, int... shape) {
    return ofLongs(Backends.defaultDevice(), data, shape);
  }

  /** An int64 tensor on {@code device} holding a copy of {@code data}. */
  public static Tensor ofLongs(Device device, long[] data, int... shape) {
    checkLength(data.length, shape);
    Backend b = Backends.forDevice(device);
    return new Tensor(b, b.upload(device, data), 0, shape);
  }

  /** A 0-rank float32 scalar. */
  public static Tensor scalar(float value) {
    return of(new float[] {value});
  }

  /** Standard normal samples from {@code rng}, in row-major order. */
  public static Tensor randn(Rng rng, int... shape) {
    float[] d = new float[Math.toIntExact(Shape.numel(shape))];
    for (int i = 0; i < d.length; i++) {
      d[i] = (float) rng.nextGaussian();
    }
    return of(d, shape);
  }

  /** Uniform samples in [lo, hi) from {@code rng}, in row-major order. */
  public static Tensor uniform(Rng rng, float lo, float hi, int... shape) {
    float[] d = new float[Math.toIntExact(Shape.numel(shape))];
    for (int i = 0; i < d.length; i++) {
      d[i] = rng.uniform(lo, hi);
    }
    return of(d, shape);
  }

  /** A new zero tensor of the same device and dtype with {@code shape}. */
  public Tensor newZeros(int... shape) {
    return newZeros(dtype(), shape);
  }

  /** A new zero tensor on the same device with {@code dtype} and {@code shape}. */
  public Tensor newZeros(DType dtype, int... shape) {
    return new Tensor(backend, backend.allocate(device(), dtype, Shape.numel(shape)), 0, shape);
  }

  private static void checkLength(int length, int[] shape) {
    if (length != Shape.numel(shape)) {
      throw new IllegalArgumentException(
          length + " values do not fill shape " + Shape.format(shape));
    }
  }

  // ---- what it is -------------------------------------------------------------------------------

  /** The shape (a copy). */
  public int[] shape() {
    return shape.clone();
  }

  /** The size of dimension {@code dim}; negative counts from the end. */
  public int size(int dim) {
    return shape[dim < 0 ? shape.length + dim : dim];
  }

  /** The number of dimensions. */
  public int rank() {
    return shape.length;
  }

  /** The number of elements. */
  public long numel() {
    return Shape.numel(shape);
  }

  /** The element type. */
  public DType dtype() {
    return storage.dtype();
  }

  /** Where the storage lives. */
  public Device device() {
    return storage.device();
  }

  /** The backing storage (shared by views). */
  public Storage storage() {
    return storage;
  }

  /** The first element's index in {@link #storage()}. */
  public long offset() {
    return offset;
  }

  /** The backend that owns the storage. */
  public Backend backend() {
    return backend;
  }

  // ---- views and copies -------------------------------------------------------------------------

  /**
   * The same elements under another shape; one dimension may be -1 (inferred). Shares storage, and
   * is differentiable.
   */
  public Tensor reshape(int... newShape) {
    int[] s = inferShape(newShape);
    Tensor out = new Tensor(backend, storage, offset, s);
    int[] original = shape;
    return Ops.record(out, "reshape", g -> new Tensor[] {g.reshape(original)}, this);
  }

  /** Keeps dimensions before {@code startDim} and merges the rest into one. */
  public Tensor flatten(int startDim) {
    int[] s = Arrays.copyOf(shape, startDim + 1);
    s[startDim] = -1;
    return reshape(s);
  }

  /**
   * Rows {@code [from, to)} of dimension 0 as a view sharing storage. Not differentiable: it is for
   * batching data, not for use inside a graph.
   */
  public Tensor narrowRows(int from, int to) {
    if (rank() == 0 || from < 0 || to > shape[0] || from > to) {
      throw new IllegalArgumentException(
          "rows [" + from + ", " + to + ") out of range for shape " + Shape.format(shape));
    }
    int[] s = shape.clone();
    s[0] = to - from;
    long rowSize = shape[0] == 0 ? 0 : numel() / shape[0];
    return new Tensor(backend, storage, offset + from * rowSize, s);
  }

  private int[] inferShape(int[] newShape) {
    int[] s = newShape.clone();
    int infer = -1;
    long known = 1;
    for (int i = 0; i < s.length; i++) {
      if (s[i] == -1) {
        if (infer >= 0) {
          throw new IllegalArgumentException("only one dimension can be -1");
        }
        infer = i;
      } else {
        known *= s[i];
      }
    }
    if (infer >= 0) {
      if (known == 0 || numel() % known != 0) {
        throw new IllegalArgumentException(
            "cannot reshape " + Shape.format(shape) + " to " + Shape.format(newShape));
      }
      s[infer] = (int) (numel() / known);
    }
    if (Shape.numel(s) != numel()) {
      throw new IllegalArgumentException(
          "cannot reshape " + Shape.format(shape) + " to " + Shape.format(newShape));
    }
    return s;
  }

  /** A tensor sharing storage that is not part of any graph and requires no grad. */
  public Tensor detach() {
    return new Tensor(backend, storage, offset, shape);
  }

  /** A deep copy with its own storage, detached from any graph. */
  public Tensor copy() {
    Tensor out = newZeros(shape);
    backend.copy(this, out);
    return out;
  }

  /** Copies {@code src}'s values into this tensor's storage (same numel and dtype), in place. */
  public void copyFrom(Tensor src) {
    if (src.numel() != numel() || src.dtype() != dtype()) {
      throw new IllegalArgumentException(
          "copy of " + src + " into " + this + ": sizes or dtypes differ");
    }
    Tensor from = src.device().equals(device()) ? src : src.to(device());
    backend.copy(from, this);
  }

  /** This tensor on {@code target} (itself when already there). */
  public Tensor to(Device target) {
    if (target.equals(device())) {
      return this;
    }
    return dtype() == DType.INT64
        ? ofLongs(target, toLongArray(), shape)
        : of(target, toFloatArray(), shape);
  }

  // ---- reading back
  // -------------------------------------------------------------------------------

  /** All values, row-major, as floats (waits for pending kernels). */
  public float[] toFloatArray() {
    requireDType(DType.FLOAT32);
    float[] out = new float[Math.toIntExact(numel())];
    backend.download(storage, offset, out, 0, out.length);
    return out;
  }

  /** All values, row-major, as longs. */
  public long[] toLongArray() {
    requireDType(DType.INT64);
    long[] out = new long[Math.toIntExact(numel())];
    backend.download(storage, offset, out, 0, out.length);
    return out;
  }

  /** The value of a one-element float tensor. */
  public float item() {
    if (numel() != 1) {
      throw new IllegalStateException("item() needs one element, shape is " + Shape.format(shape));
    }
    return toFloatArray()[0];
  }

  /** Fills with {@code value} in place (no graph). */
  public Tensor fill(float value) {
    backend.fill(this, value);
    return this;
  }

  private void requireDType(DType want) {
    if (dtype() != want) {
      throw new IllegalStateException("tensor is " + dtype() + ", not " + want);
    }
  }

  // ---- autograd -------------------------------------------------------------------------------

  /** Whether gradients flow to or through this tensor. */
  public boolean requiresGrad() {
    return requiresGrad;
  }

  /** Marks a leaf tensor as a parameter (or not); returns this. */
  public Tensor requiresGrad(boolean value) {
    if (gradFn != null) {
      throw new IllegalStateException(
          "requiresGrad can only be set on leaf tensors; use detach() for an op's output");
    }
    if (value && dtype() != DType.FLOAT32) {
      throw new IllegalStateException("only float tensors can require grad");
    }
    requiresGrad = value;
    return this;
  }

  /** The accumulated gradient, or null. */
  public Tensor grad() {
    return grad;
  }

  /** Replaces the gradient (null clears it, as {@code zero_grad(set_to_none=True)}). */
  public void setGrad(Tensor value) {
    grad = value;
  }

  /** The op that produced this tensor, or null for a leaf. */
  public Node gradFn() {
    return gradFn;
  }

  /** Whether no op produced this tensor (it was created, or detached). */
  public boolean isLeaf() {
    return gradFn == null;
  }

  void attachGradFn(Node node) {
    gradFn = node;
    requiresGrad = true;
  }

  /** Back-propagates from this one-element tensor with gradient 1. */
  public void backward() {
    if (numel() != 1) {
      throw new IllegalStateException(
          "backward() needs a scalar; pass a gradient for shape " + Shape.format(shape));
    }
    backward(newZeros(shape).fill(1f));
  }

  /**
   * Back-propagates {@code gradient} (of this tensor's shape) through the recorded graph, adding
   * into the {@link #grad()} of every leaf that requires grad. Intermediate gradients are not kept,
   * and the graph's saved tensors are freed.
   */
  public void backward(Tensor gradient) {
    if (!requiresGrad) {
      throw new IllegalStateException(
          "this tensor does not require grad: no parameter that requires grad led to it");
    }
    if (!Arrays.equals(gradient.shape, shape)) {
      throw new IllegalArgumentException(
          "gradient shape " + Shape.format(gradient.shape) + " != " + Shape.format(shape));
    }
    List<Tensor> order = topologicalOrder(this);
    Map<Tensor, Tensor> pending = new IdentityHashMap<>();
    pending.put(this, gradient);
    try (GradMode ignored = GradMode.noGrad()) {
      for (Tensor t : order) {
        Tensor g = pending.remove(t);
        if (g == null) {
          continue;
        }
        if (t.gradFn == null) {
          t.accumulateGrad(g);
          continue;
        }
        Tensor[] inputs = t.gradFn.inputs();
        Tensor[] grads = t.gradFn.runBackward(g);
        for (int i = 0; i < inputs.length; i++) {
          Tensor in = inputs[i];
          if (in == null || !in.requiresGrad || grads[i] == null) {
            continue;
          }
          Tensor prev = pending.get(in);
          pending.put(in, prev == null ? grads[i] : Ops.add(prev, grads[i]));
        }
      }
    }
  }

  private void accumulateGrad(Tensor g) {
    if (grad == null) {
      // A fresh buffer: g may alias a gradient that another leaf also receives.
      grad = newZeros(shape);
      backend.copy(g, grad);
    } else {
      backend.axpby(1f, g, 1f, grad);
    }
  }

  /** Tensors reachable from {@code root} through requires-grad edges, outputs before inputs. */
  private static List<Tensor> topologicalOrder(Tensor root) {
    List<Tensor> postOrder = new ArrayList<>();
    Set<Tensor> seen = java.util.Collections.newSetFromMap(new IdentityHashMap<>());
    Deque<Object[]> stack = new ArrayDeque<>(); // {tensor, next input index}
    stack.push(new Object[] {root, 0});
    seen.add(root);
    while (!stack.isEmpty()) {
      Object[] frame = stack.peek();
      Tensor t = (Tensor) frame[0];
      int i = (Integer) frame[1];
      Tensor[] inputs = t.gradFn == null ? new Tensor[0] : t.gradFn.inputs();
      if (i < inputs.length) {
        frame[1] = i + 1;
        Tensor in = inputs[i];
        if (in != null && in.requiresGrad && seen.add(in)) {
          stack.push(new Object[] {in, 0});
        }
      } else {
        stack.pop();
        postOrder.add(t);
      }
    }
    java.util.Collections.reverse(postOrder);
    return postOrder;
  }

  // ---- shorthands for common ops
  // -------------------------------------------------------------------

  /** {@link Ops#add}. */
  public Tensor add(Tensor other) {
    return Ops.add(this, other);
  }

  /** {@link Ops#mul(Tensor, float)}. */
  public Tensor mul(float scalar) {
    return Ops.mul(this, scalar);
  }

  /** {@link Ops#matmul}. */
  public Tensor matmul(Tensor other) {
    return Ops.matmul(this, other);
  }

  /** {@link Ops#relu}. */
  public Tensor relu() {
    return Ops.relu(this);
  }

  /** {@link Ops#sum}. */
  public Tensor sum() {
    return Ops.sum(this);
  }

  /** {@link Ops#mean}. */
  public Tensor mean() {
    return Ops.mean(this);
  }

  @Override
  public String toString() {
    return "Tensor"
        + Shape.format(shape)
        + "("
        + dtype()
        + ", "
        + device()
        + (requiresGrad ? ", requiresGrad" : "")
        + (gradFn != null ? ", gradFn=" + gradFn.opName() : "")
        + ")";
  }
}
