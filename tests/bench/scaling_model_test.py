# bench/scaling_model.py on cases computed by hand: the collectives' cost formulae, the bucket fill, the
# overlap of buckets with backward, the FLOP and parameter counts against figures recorded elsewhere, and
# the --validate path on multihost_overlap_example.csv. Usage: python3 scaling_model_test.py SOURCE_ROOT
import csv
import os
import sys
import unittest

ROOT = sys.argv.pop(1) if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), '..', '..')
sys.path.insert(0, os.path.join(ROOT, 'bench'))
import scaling_model as m  # noqa: E402

EXAMPLE = os.path.join(ROOT, 'tests', 'bench', 'multihost_overlap_example.csv')


class Collectives(unittest.TestCase):
    def test_ring_allreduce(self):
        # 1 GB over 4 ranks at 100 GB/s, 10 us a hop: 2*3/4 * 1e9 / 1e11 = 15 ms, plus 6 hops = 60 us.
        self.assertAlmostEqual(m.ring_allreduce_s(1e9, 4, 100.0, 1e-5), 0.015 + 6e-5, places=12)
        self.assertEqual(m.ring_allreduce_s(1e9, 1, 100.0, 1e-5), 0.0)

    def test_one_node_is_nvlink_only(self):
        # 8 GPUs, 450 MB: reduce-scatter and all-gather each 7/8 * 450e6 / 450e9 + 7 * 3.4 us, plus 8.4 us.
        links = m.Links()
        half = 7 / 8 * 1e-3 + 7 * 3.4e-6
        self.assertAlmostEqual(m.allreduce_s(450e6, 8, links), 8.4e-6 + 2 * half, places=12)

    def test_eight_nodes_add_the_network(self):
        # 64 GPUs = 8 nodes: shards over 8 NICs (400 GB/s a node): 2*7/8 * 400e6 / 400e9 = 1.75 ms; the
        # tree's 2*log2(8) = 6 hops beat the ring's 14: 6 * 14 us.
        links = m.Links()
        half = 7 / 8 * 400e6 / 450e9 + 7 * 3.4e-6
        inter = 1.75e-3 + 6 * 14e-6
        self.assertAlmostEqual(m.allreduce_s(400e6, 64, links), 8.4e-6 + 2 * half + inter, places=12)

    def test_two_nodes_take_the_ring(self):
        # 2 nodes: ring and tree both 2 hops; 2*1/2 * S / 400 GB/s.
        links = m.Links()
        half = 7 / 8 * 400e6 / 450e9 + 7 * 3.4e-6
        self.assertAlmostEqual(m.allreduce_s(400e6, 16, links), 8.4e-6 + 2 * half + 1e-3 + 2 * 14e-6, places=12)

    def test_one_rank_reduces_nothing(self):
        self.assertEqual(m.allreduce_s(1e9, 1, m.Links()), 0.0)

    def test_derating_scales_bandwidth_not_latency(self):
        slow = m.Links().derated(0.5)
        self.assertEqual((slow.nvlink_GBps, slow.node_GBps, slow.net_hop_s), (225.0, 200.0, 14e-6))


class Overlap(unittest.TestCase):
    def test_zero_exposed_when_compute_dominates(self):
        self.assertEqual(m.exposed_s([(1e6, 0.01), (1e6, 0.02)], 0.1, lambda b: 0.001), 0.0)

    def test_last_bucket_is_exposed(self):
        # The last bucket is ready when backward ends: its whole all-reduce is exposed.
        self.assertAlmostEqual(m.exposed_s([(1, 0.05), (1, 0.1)], 0.1, lambda b: 0.01), 0.01, places=12)

    def test_communication_bound_buckets_queue(self):
        # Ready at 10, 20, 30 ms, 20 ms each on one stream: ends 30, 50, 70 ms; backward ends at 30 ms.
        got = m.exposed_s([(1, 0.01), (1, 0.02), (1, 0.03)], 0.03, lambda b: 0.02)
        self.assertAlmostEqual(got, 0.04, places=12)


class Buckets(unittest.TestCase):
    def test_fill_like_grad_buckets(self):
        # 32-byte buckets (8 floats): 3 + 3 fit, 5 more would not; a 10-float parameter gets its own.
        self.assertEqual(m.buckets([(1, [3, 3]), (1, [5])], 32, 1.0), [(24, 1.0), (20, 2.0)])
        self.assertEqual(m.buckets([(1, [10]), (1, [1])], 32, 1.0), [(40, 1.0), (4, 2.0)])

    def test_vit_base_gradients(self):
        # ViT-B/16 backbone (timm's 85,798,656 + masked_embed 768) + the iBOT head without weight_g:
        # 768*2048+2048 + 2048*2048+2048 + 2048*256+256 + 8192*256 = 8,392,960.
        head = m.Head()
        self.assertEqual(m.param_count(m.ARCHS['vit_base'], head), 85_798_656 + 768 + 8_392_960)
        ops = m.backward_ops(m.ARCHS['vit_base'], head, m.StepShape(batch=64))
        total = sum(nbytes for nbytes, _ in m.buckets(ops, 25 * 2 ** 20, 1.0))
        self.assertEqual(total, 4 * m.param_count(m.ARCHS['vit_base'], head))


class Compute(unittest.TestCase):
    def test_run4_flops(self):
        # trainer/flops.h counted 31.07 TFLOP for run 4's step (bench/results/gpu_h200.md).
        flops = m.step_flops(m.ARCHS['vit_base'], m.Head(), m.RUN4_SHAPE)
        self.assertLess(abs(flops / 31.07e12 - 1), 1e-3)

    def test_one_gpu_is_the_measured_step(self):
        r = m.predict(m.ARCHS['vit_base'], 1, m.RUN4_SHAPE)
        self.assertLess(abs(r['step_s'] / m.MEASURED_STEP_S - 1), 1e-3)
        self.assertEqual((r['exposed_s'], r['efficiency']), (0.0, 1.0))

    def test_large_costs_its_flop_ratio(self):
        s = m.StepShape(batch=64)
        base, large = (m.predict(m.ARCHS[a], 1, s) for a in ('vit_base', 'vit_large'))
        ratio = m.step_flops(m.ARCHS['vit_large'], m.Head(), s) / m.step_flops(m.ARCHS['vit_base'], m.Head(), s)
        self.assertAlmostEqual(large['compute_s'] / base['compute_s'], ratio, places=9)
        self.assertGreater(ratio, 3.0)

    def test_step_adds_the_tail_and_the_centres(self):
        # 8 GPUs: compute-bound, so the exposed time is the last bucket (the embeddings and block 0, ready
        # when backward ends) plus the two centre all-reduces of 8192 floats.
        arch, s, links = m.ARCHS['vit_base'], m.StepShape(batch=64), m.Links()
        r = m.predict(arch, 8, s)
        spf = m.MEASURED_STEP_S / m.MEASURED_FLOPS
        last_bytes = m.buckets(m.backward_ops(arch, m.Head(), s), 25 * 2 ** 20, spf)[-1][0]
        want = m.allreduce_s(last_bytes, 8, links) + 2 * m.allreduce_s(8192 * 4, 8, links)
        self.assertAlmostEqual(r['exposed_s'], want, places=12)
        self.assertAlmostEqual(r['step_s'], r['compute_s'] + want, places=12)
        self.assertAlmostEqual(r['efficiency'], r['compute_s'] / r['step_s'], places=12)

    def test_visionfm_wall_time(self):
        r = m.predict(m.ARCHS['vit_base'], 64, m.StepShape(batch=64))
        self.assertAlmostEqual(r['wall_h'], 3.4e6 * 400 / r['images_per_s'] / 3600, places=9)
        self.assertAlmostEqual(r['gpu_h'], 64 * r['wall_h'], places=9)


class Validate(unittest.TestCase):
    def rows(self):
        with open(EXAMPLE, newline='') as f:
            return list(csv.DictReader(f))

    def test_example_rows(self):
        fast, slow = self.rows()
        # 2 ranks on 2 hosts, one 10 MB bucket ready when backward ends: 2*1/2 * 1e7 / 1.25e9 = 8 ms.
        hier, flat, binomial = m.validate_row(fast, 25.0, 5.0, 0.5)
        self.assertAlmostEqual(hier, 0.008, places=12)
        self.assertAlmostEqual(flat, 0.008, places=12)
        self.assertAlmostEqual(binomial, 0.016, places=12)  # reduce + broadcast: the whole message twice
        # 4 ranks on 2 hosts, 100 Mbit/s, 1 ms: backward (3 - 1) * 0.5 = 1 s, two 25 MiB buckets ready at
        # 0.5 s and 1 s. Hierarchical: 2 * 1/2*S/5e9 + S/12.5e6 + 2 hops; flat ring: 2*3/4*S/12.5e6 + 6 hops.
        s = 25 * 2 ** 20
        each = 2 * (s / 2 / 5e9) + s / 12.5e6 + 0.002
        ring = 1.5 * s / 12.5e6 + 0.006
        hier, flat, binomial = m.validate_row(slow, 25.0, 5.0, 0.5)
        self.assertAlmostEqual(hier, 0.5 + 2 * each - 1.0, places=9)
        self.assertAlmostEqual(flat, 0.5 + 2 * ring - 1.0, places=9)
        tree = 2 * 2 * (s / 12.5e6 + 0.001)  # 4 ranks: 2 rounds each way
        self.assertAlmostEqual(binomial, 0.5 + 2 * tree - 1.0, places=9)

    def test_table_and_bad_columns(self):
        out = m.validate(EXAMPLE, 25.0, 5.0, 0.5)
        self.assertEqual(len(out.splitlines()), 4)
        self.assertIn('example_link_bound', out)
        bad = os.path.join(os.environ.get('TMPDIR', '/tmp'), f'scaling_model_bad_{os.getpid()}.csv')
        with open(bad, 'w') as f:
            f.write('ranks,hosts\n2,2\n')
        try:
            with self.assertRaises(SystemExit) as e:
                m.validate(bad, 25.0, 5.0, 0.5)
            self.assertIn('link_mbit', str(e.exception))
        finally:
            os.remove(bad)


if __name__ == '__main__':
    unittest.main()
