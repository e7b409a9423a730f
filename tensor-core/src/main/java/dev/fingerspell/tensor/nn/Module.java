package dev.fingerspell.tensor.nn;

import dev.fingerspell.tensor.Tensor;
import java.util.ArrayList;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A layer or a network of layers, as PyTorch's {@code nn.Module}: it registers parameters, buffers
 * and child modules under names, and reports them with dotted paths in registration order ({@code
 * layer1.0.conv1.weight}, {@code bn1.running_var}), so that state dicts match PyTorch's and timm's
 * key for key.
 */
public abstract class Module {
  private final Map<String, Tensor> parameters = new LinkedHashMap<>();
  private final Map<String, Tensor> buffers = new LinkedHashMap<>();
  private final Map<String, Module> children = new LinkedHashMap<>();
  private boolean training = true;

  /** The forward computation. */
  public abstract Tensor forward(Tensor input);

  // ---- registration ---------------------------------------------------------------------------

  /** Registers a parameter (it will require grad) and returns it. */
  protected Tensor registerParameter(String name, Tensor value) {
    checkName(name);
    value.requiresGrad(true);
    parameters.put(name, value);
    return value;
  }

  /** Registers a buffer: state that is saved but not trained (running statistics). */
  protected Tensor registerBuffer(String name, Tensor value) {
    checkName(name);
    buffers.put(name, value);
    return value;
  }

  /** Registers a child module and returns it. */
  protected <M extends Module> M registerModule(String name, M module) {
    checkName(name);
    children.put(name, module);
    return module;
  }

  /**
   * Replaces the child registered as {@code name} (a classifier swapped for one with another number
   * of classes); the new one takes the old one's place in the order.
   */
  public <M extends Module> M replaceModule(String name, M module) {
    if (!children.containsKey(name)) {
      throw new IllegalArgumentException("no child module named '" + name + "'");
    }
    children.put(name, module);
    return module;
  }

  private void checkName(String name) {
    if (name.isEmpty() || name.contains(".")) {
      throw new IllegalArgumentException("bad name '" + name + "': non-empty, without dots");
    }
    if (parameters.containsKey(name) || buffers.containsKey(name) || children.containsKey(name)) {
      throw new IllegalArgumentException("'" + name + "' is already registered");
    }
  }

  // ---- traversal ------------------------------------------------------------------------------

  /** The direct children, by name, in registration order. */
  public Map<String, Module> children() {
    return Collections.unmodifiableMap(children);
  }

  /** This module ("") and every descendant by dotted path, parents first. */
  public Map<String, Module> namedModules() {
    Map<String, Module> out = new LinkedHashMap<>();
    collectModules("", this, out);
    return out;
  }

  private static void collectModules(String prefix, Module m, Map<String, Module> out) {
    out.put(prefix, m);
    for (Map.Entry<String, Module> e : m.children.entrySet()) {
      collectModules(join(prefix, e.getKey()), e.getValue(), out);
    }
  }

  /** Every parameter by dotted name; a tensor shared by two modules is listed once. */
  public Map<String, Tensor> namedParameters() {
    Map<String, Tensor> out = new LinkedHashMap<>();
    Set<Tensor> seen = Collections.newSetFromMap(new IdentityHashMap<>());
    for (Map.Entry<String, Module> m : namedModules().entrySet()) {
      for (Map.Entry<String, Tensor> p : m.getValue().parameters.entrySet()) {
        if (seen.add(p.getValue())) {
          out.put(join(m.getKey(), p.getKey()), p.getValue());
        }
      }
    }
    return out;
  }

  /** The parameters, in {@link #namedParameters()} order. */
  public List<Tensor> parameters() {
    return new ArrayList<>(namedParameters().values());
  }

  /** The parameters that currently require grad (what an optimizer should update). */
  public List<Tensor> trainableParameters() {
    List<Tensor> out = new ArrayList<>();
    for (Tensor t : namedParameters().values()) {
      if (t.requiresGrad()) {
        out.add(t);
      }
    }
    return out;
  }

  /** Every buffer by dotted name. */
  public Map<String, Tensor> namedBuffers() {
    Map<String, Tensor> out = new LinkedHashMap<>();
    for (Map.Entry<String, Module> m : namedModules().entrySet()) {
      for (Map.Entry<String, Tensor> b : m.getValue().buffers.entrySet()) {
        out.put(join(m.getKey(), b.getKey()), b.getValue());
      }
    }
    return out;
  }

  /**
   * Parameters and buffers by dotted name, in PyTorch's {@code state_dict()} order: each module's
   * own parameters, then its own buffers, then its children's. The tensors are the live ones: a
   * loader copies values into them.
   */
  public Map<String, Tensor> stateDict() {
    Map<String, Tensor> out = new LinkedHashMap<>();
    collectState("", this, out);
    return out;
  }

  private static void collectState(String prefix, Module m, Map<String, Tensor> out) {
    for (Map.Entry<String, Tensor> p : m.parameters.entrySet()) {
      out.put(join(prefix, p.getKey()), p.getValue());
    }
    for (Map.Entry<String, Tensor> b : m.buffers.entrySet()) {
      out.put(join(prefix, b.getKey()), b.getValue());
    }
    for (Map.Entry<String, Module> c : m.children.entrySet()) {
      collectState(join(prefix, c.getKey()), c.getValue(), out);
    }
  }

  private static String join(String prefix, String name) {
    return prefix.isEmpty() ? name : prefix + "." + name;
  }

  // ---- modes ----------------------------------------------------------------------------------

  /** Sets training mode on this module and every descendant; returns this. */
  public Module train(boolean on) {
    for (Module m : namedModules().values()) {
      m.training = on;
    }
    return this;
  }

  /** Evaluation mode: {@code train(false)}. */
  public Module eval() {
    return train(false);
  }

  /** Whether this module is in training mode. */
  public boolean isTraining() {
    return training;
  }

  /** Sets {@code requiresGrad} on every parameter (false freezes); returns this. */
  public Module requiresGrad(boolean on) {
    for (Tensor p : namedParameters().values()) {
      p.requiresGrad(on);
    }
    return this;
  }

  /** The number of parameter elements. */
  public long parameterCount() {
    long n = 0;
    for (Tensor p : namedParameters().values()) {
      n += p.numel();
    }
    return n;
  }
}
