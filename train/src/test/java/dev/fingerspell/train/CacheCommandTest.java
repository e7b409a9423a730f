package dev.fingerspell.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class CacheCommandTest {
  @TempDir Path home;
  Map<String, String> env;

  @BeforeEach
  void fill() throws Exception {
    env = Map.of("FINGERSPELL_HOME", home.toString());
    Path repo = Files.createDirectories(home.resolve("hub/timm--resnet18.a1_in1k"));
    Files.write(repo.resolve("model.safetensors"), new byte[2_000_000]);
    Path pinned = Files.createDirectories(home.resolve("hub/timm--resnet18.a1_in1k@abc123"));
    Files.write(pinned.resolve("model.safetensors"), new byte[1000]);
    Files.createDirectories(home.resolve("hub/left--behind")); // a download never finished
    Files.write(
        Files.createDirectories(home.resolve("features")).resolve("a.safetensors"), new byte[3000]);
    Path layer3 = Files.createDirectories(home.resolve("layer3"));
    for (int i = 0; i < 3; i++) {
      Files.write(layer3.resolve("k-" + i + ".safetensors"), new byte[400_000]);
    }
  }

  @Test
  void listsEachPartWithItsSizeFilesAndRepositories() throws Exception {
    CliRun r = CliRun.run(env, "cache");
    assertEquals(0, r.status(), r.err());
    assertTrue(r.out().startsWith(home + "\n"), r.out());
    assertTrue(
        r.out()
            .contains(
                "hub           2.0 MB      2  downloaded weights: "
                    + "hf://timm/resnet18.a1_in1k, hf://timm/resnet18.a1_in1k@abc123"),
        r.out());
    assertTrue(r.out().contains("features      3.0 kB      1  "), r.out());
    assertTrue(r.out().contains("layer3        1.2 MB      3  "), r.out());
    assertTrue(r.out().contains("total         3.2 MB"), r.out());

    // a longer folder name widens the column for every row
    Files.createDirectories(home.resolve("cuda-host-libs-12.6-9.5"));
    CliRun wide = CliRun.run(env, "cache");
    assertTrue(wide.out().contains("\nlayer3                       1.2 MB      3  "), wide.out());
    assertTrue(wide.out().contains("\ncuda-host-libs-12.6-9.5      0.0 kB      0  "), wide.out());
  }

  @Test
  void jsonGivesBytesAndCountsAndOtherFoldersToo() throws Exception {
    Files.writeString(Files.createDirectories(home.resolve("elsewhere")).resolve("x"), "12345");
    CliRun r = CliRun.run(env, "cache", "--json");
    assertEquals(0, r.status(), r.err());
    JsonNode j = new ObjectMapper().readTree(r.out());
    assertEquals(2_001_000 + 3000 + 1_200_000 + 5, j.get("bytes").asLong());
    assertEquals("layer3", j.get("parts").get(2).get("name").asText());
    assertEquals(3, j.get("parts").get(2).get("files").asInt());
    assertEquals(2, j.get("parts").get(0).get("repos").size());
    assertEquals("elsewhere", j.get("parts").get(3).get("name").asText());
    assertEquals(5, j.get("parts").get(3).get("bytes").asLong());
  }

  @Test
  void clearRemovesTheNamedPartsOnly() {
    CliRun r = CliRun.run(env, "cache", "clear", "layer3", "features");
    assertEquals(0, r.status(), r.err());
    assertEquals("removed layer3: 1.2 MB\nremoved features: 3.0 kB\nfreed 1.2 MB\n", r.out());
    assertFalse(Files.exists(home.resolve("layer3")));
    assertFalse(Files.exists(home.resolve("features")));
    assertTrue(Files.exists(home.resolve("hub/timm--resnet18.a1_in1k/model.safetensors")));

    CliRun again = CliRun.run(env, "cache", "clear", "layer3");
    assertEquals(0, again.status(), again.err());
    assertEquals("removed layer3: 0.0 kB\n", again.out());

    CliRun all = CliRun.run(env, "cache", "clear", "--all");
    assertEquals(0, all.status(), all.err());
    assertFalse(Files.exists(home.resolve("hub")));
  }

  @Test
  void clearWithoutAPartOrWithAnUnknownOneIsOneLine() {
    CliRun none = CliRun.run(env, "cache", "clear");
    assertEquals(2, none.status());
    assertEquals(1, none.err().strip().lines().count(), none.err());
    assertTrue(none.err().contains("--all"), none.err());

    CliRun unknown = CliRun.run(env, "cache", "clear", "weights");
    assertEquals(2, unknown.status());
    assertTrue(unknown.err().contains("hub, features, layer3"), unknown.err());
    assertTrue(Files.exists(home.resolve("layer3")), "nothing removed");
  }
}
