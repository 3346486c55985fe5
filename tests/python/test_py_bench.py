"""Smoke run of bench_python.py (the Python echo beside the C echo): both sides produce
figures, every call is accounted for. No timed assertion: the figures go to
docs/benchmarks.md from a full run, not from CI."""

import sys
import unittest

import bench_python


class PyBenchSmokeTest(unittest.TestCase):
    """One short round of each side through the real broker and `yard bench`."""

    def test_both_sides_measured(self) -> None:
        doc = bench_python.run(["--rounds", "1", "--duration", "1", "--clients", "2",
                                "--window", "8"])
        sys.stderr.write(f"{doc}\n")
        impls = [r["impl"] for r in doc["rounds"]]
        self.assertEqual(impls, ["c", "python"])
        for r in doc["rounds"]:
            self.assertGreater(r["rt_per_s"], 0, r)
            self.assertGreater(r["replies"], 0, r)
            self.assertGreater(r["p50_us"], 0, r)
            self.assertEqual(r["lost"], 0, r)
            self.assertEqual(r["sent"], r["replies"] + sum(r["errors"].values()), r)
        self.assertIsNotNone(doc["ratio"])


if __name__ == "__main__":
    unittest.main()
