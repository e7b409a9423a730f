# Shared by bench/compare and bench/serve-compare (sourced).

# The line naming the machine and the day, which every result records.
machine_line() {
  echo "machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p'), $(free -g | awk '/^Mem:/ { print $2 }') GiB; $(date -u +%F)"
}

# The median of the numbers given, with three decimals.
median() {
  printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; printf "%.3f", m }'
}
