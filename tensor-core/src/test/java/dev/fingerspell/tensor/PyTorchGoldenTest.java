package dev.fingerspell.tensor;

import static dev.fingerspell.tensor.Goldens.expected;
import static dev.fingerspell.tensor.Goldens.tensor;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.fingerspell.tensor.optim.AdamW;
import dev.fingerspell.tensor.optim.LrSchedule;
import dev.fingerspell.tensor.optim.Optimizer;
import dev.fingerspell.tensor.optim.Sgd;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Our ops against PyTorch's, on the goldens of make_goldens.py: forward within relative error 1e-5
 * (the contract is 1e-4 for whole networks), gradients within 1e-4 (contract 1e-3).
 */
class PyTorchGoldenTest {
  private static final double FWD = 1e-5;
  private static final double GRAD = 1e-4;

  private static void close(String what, Tensor actual, JsonNode c, String name, double tol) {
    double[] want = expected(c, name);
    assertArrayEquals(
        Goldens.shape(c.get("tensors").get(name)), actual.shape(), what + " " + name + " shape");
    double err = GradCheck.relError(actual.toFloatArray(), want);
    assertTrue(err <= tol, c.get("name").asText() + ": " + name + " relative error " + err);
  }

  static Stream<JsonNode> conv2d() {
    return Goldens.cases("conv2d").stream();
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource
  void conv2d(JsonNode c) {
    Tensor x = tensor(c, "x").requiresGrad(true);
    Tensor w = tensor(c, "w").requiresGrad(true);
    Tensor b = c.get("tensors").has("b") ? tensor(c, "b").requiresGrad(true) : null;
    int stride = c.get("params").get("stride").asInt();
    int pad = c.get("params").get("padding").asInt();
    Tensor y = Ops.conv2d(x, w, b, stride, pad);
    close("conv2d", y, c, "y", FWD);
    y.backward(tensor(c, "g"));
    close("conv2d", x.grad(), c, "dx", GRAD);
    close("conv2d", w.grad(), c, "dw", GRAD);
    if (b != null) {
      close("conv2d", b.grad(), c, "db", GRAD);
    }
  }

  static Stream<JsonNode> batchNorm() {
    return Goldens.cases("batch_norm").stream();
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource
  void batchNorm(JsonNode c) {
    boolean training = c.get("params").get("training").asBoolean();
    Tensor x = tensor(c, "x").requiresGrad(true);
    Tensor weight = tensor(c, "weight").requiresGrad(true);
    Tensor bias = tensor(c, "bias").requiresGrad(true);
    Tensor rm = tensor(c, "running_mean");
    Tensor rv = tensor(c, "running_var");
    Tensor y = Ops.batchNorm(x, weight, bias, rm, rv, training, 0.1f, 1e-5f);
    close("batch_norm", y, c, "y", FWD);
    close("batch_norm", rm, c, "running_mean_after", FWD);
    close("batch_norm", rv, c, "running_var_after", FWD);
    y.backward(tensor(c, "g"));
    close("batch_norm", x.grad(), c, "dx", GRAD);
    close("batch_norm", weight.grad(), c, "dweight", GRAD);
    close("batch_norm", bias.grad(), c, "dbias", GRAD);
    if (training) {
      try (GradMode g = GradMode.noGrad()) {
        Ops.batchNorm(tensor(c, "x2"), weight, bias, rm, rv, true, 0.1f, 1e-5f);
      }
      close("batch_norm", rm, c, "running_mean_after2", FWD);
      close("batch_norm", rv, c, "running_var_after2", FWD);
    }
  }

  static Stream<JsonNode> maxPool2d() {
    return Goldens.cases("max_pool2d").stream();
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource
  void maxPool2d(JsonNode c) {
    JsonNode p = c.get("params");
    Tensor x = tensor(c, "x").requiresGrad(true);
    Tensor y =
        Ops.maxPool2d(
            x, p.get("kernel").asInt(), p.get("stride").asInt(), p.get("padding").asInt());
    close("max_pool2d", y, c, "y", 0); // a max is exact
    y.backward(tensor(c, "g"));
    // ties included: the gradient must go where PyTorch sends it, so compare exactly
    close("max_pool2d", x.grad(), c, "dx", 1e-7);
  }

  static Stream<JsonNode> crossEntropy() {
    return Goldens.cases("cross_entropy").stream();
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource
  void crossEntropy(JsonNode c) {
    Tensor x = tensor(c, "x").requiresGrad(true);
    Tensor loss =
        Ops.crossEntropy(
            x, tensor(c, "labels"), (float) c.get("params").get("smoothing").asDouble());
    assertEquals(0, loss.rank());
    close("cross_entropy", loss, c, "loss", FWD);
    loss.backward();
    close("cross_entropy", x.grad(), c, "dx", GRAD);
  }

  static Stream<JsonNode> optimizers() {
    return Goldens.cases("optimizers").stream();
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource
  void optimizers(JsonNode c) {
    JsonNode p = c.get("params");
    Tensor param = tensor(c, "p0").requiresGrad(true);
    double lr = p.get("lr").asDouble();
    Optimizer opt;
    if (p.get("kind").asText().equals("sgd")) {
      opt =
          new Sgd(
              List.of(param),
              lr,
              p.path("momentum").asDouble(0),
              p.path("dampening").asDouble(0),
              p.path("weight_decay").asDouble(0),
              p.path("nesterov").asBoolean(false));
    } else {
      opt =
          p.has("betas")
              ? new AdamW(
                  List.of(param),
                  lr,
                  p.get("betas").get(0).asDouble(),
                  p.get("betas").get(1).asDouble(),
                  p.get("eps").asDouble(),
                  p.get("weight_decay").asDouble())
              : new AdamW(List.of(param), lr);
    }
    for (int step = 0; step < c.get("grads").size(); step++) {
      param.setGrad(Goldens.tensor(c.get("grads").get(step)));
      opt.step();
      double[] want = Goldens.doubles(c.get("after").get(step));
      double err = GradCheck.relError(param.toFloatArray(), want);
      assertTrue(err < 1e-6, c.get("name").asText() + " step " + (step + 1) + ": error " + err);
    }
  }

  static Stream<JsonNode> schedules() {
    return Goldens.cases("schedules").stream();
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource
  void schedules(JsonNode c) {
    JsonNode p = c.get("params");
    LrSchedule s =
        c.get("name").asText().equals("cosine")
            ? LrSchedule.cosine(
                p.get("base").asDouble(), p.get("t_max").asInt(), p.get("eta_min").asDouble())
            : LrSchedule.step(
                p.get("base").asDouble(), p.get("step_size").asInt(), p.get("gamma").asDouble());
    JsonNode lrs = c.get("lrs");
    for (int t = 0; t < lrs.size(); t++) {
      assertEquals(lrs.get(t).asDouble(), s.lr(t), 1e-12, c.get("name").asText() + " epoch " + t);
    }
  }
}
