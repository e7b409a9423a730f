package dev.fingerspell.tensor;

/**
 * One recorded op in the autograd graph: its inputs and the function that turns the gradient of its
 * output into gradients of its inputs. Saved tensors live in the function's closure and are dropped
 * once backward has run.
 */
public final class Node {
  /** Maps the output's gradient to one gradient per input (null where none is needed). */
  @FunctionalInterface
  public interface BackwardFn {
    /** The gradients of the inputs, in input order. */
    Tensor[] apply(Tensor gradOutput);
  }

  private final String opName;
  private final Tensor[] inputs;
  private BackwardFn backward;

  Node(String opName, Tensor[] inputs, BackwardFn backward) {
    this.opName = opName;
    this.inputs = inputs;
    this.backward = backward;
  }

  /** The op that made this node, for messages and debugging. */
  public String opName() {
    return opName;
  }

  Tensor[] inputs() {
    return inputs;
  }

  Tensor[] runBackward(Tensor gradOutput) {
    if (backward == null) {
      throw new IllegalStateException(
          "backward through the graph of '"
              + opName
              + "' a second time: its saved tensors were freed after the first backward");
    }
    Tensor[] grads = backward.apply(gradOutput);
    backward = null; // frees the saved activations
    return grads;
  }
}
