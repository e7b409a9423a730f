package dev.fingerspell.train;

import java.io.InputStream;
import java.io.PrintWriter;
import java.util.Map;

/**
 * What every command gets besides its options: the input, output and error streams and the
 * environment (injected so that tests can point the hub at a loopback server).
 */
public record Cli(InputStream in, PrintWriter out, PrintWriter err, Map<String, String> env) {}
