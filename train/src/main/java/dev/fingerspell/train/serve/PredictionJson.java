package dev.fingerspell.train.serve;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.fingerspell.resnet.AslClassifier.Prediction;
import java.util.List;

/**
 * One image's answer as {@code predict --json} prints it and {@code serve} sends it: {@code
 * {"image": ..., "predictions": [{"label", "index", "probability"}, ...]}}.
 */
public final class PredictionJson {
  private PredictionJson() {}

  /** The answer for {@code image} (null when it has no name). */
  public static ObjectNode of(ObjectMapper json, String image, List<Prediction> top) {
    ObjectNode o = json.createObjectNode();
    o.put("image", image);
    ArrayNode arr = o.putArray("predictions");
    for (Prediction p : top) {
      arr.addObject()
          .put("label", p.label())
          .put("index", p.index())
          .put("probability", p.probability());
    }
    return o;
  }
}
