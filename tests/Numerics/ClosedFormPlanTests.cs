using System;
using AttentionGen.Cpu;
using Xunit;

namespace AttentionGen.Tests.Numerics;

/// <summary>The closed-form plan against a dense check of its boxes: Skip means no pair allowed, Full means all.</summary>
public class ClosedFormPlanTests
{
    [Fact]
    public void TileKindsAndKeyRangesAgreeWithTheBoxes()
    {
        (Random random, string seed) = FreshRandom.For(51);
        for (int trial = 0; trial < 200; trial++)
        {
            DiagonalBox[] boxes = new DiagonalBox[random.Next(1, 3)];
            for (int i = 0; i < boxes.Length; i++)
            {
                boxes[i] = new DiagonalBox(
                    random.Next(2) == 0 ? long.MinValue : -random.Next(0, 60),
                    random.Next(2) == 0 ? long.MaxValue : random.Next(-10, 40),
                    random.Next(2) == 0 ? long.MinValue : random.Next(0, 30),
                    random.Next(2) == 0 ? long.MaxValue : random.Next(10, 90),
                    random.Next(3) == 0 ? random.Next(0, 20) : long.MinValue,
                    long.MaxValue);
            }

            var plan = new ClosedFormPlan(boxes);
            int q0 = random.Next(0, 80), q1 = q0 + random.Next(1, 24), k0 = random.Next(0, 80), k1 = k0 + random.Next(1, 24);
            int allowed = 0;
            for (int q = q0; q < q1; q++)
            {
                bool ranged = plan.TryGetKeyRange(0, 0, q, out int start, out int end);
                for (int kv = k0; kv < k1; kv++)
                {
                    bool inside = Array.Exists(boxes, b => b.Contains(q, kv));
                    allowed += inside ? 1 : 0;
                    Assert.Equal(inside, plan.IsAllowed(0, 0, q, kv));
                    if (ranged)
                    {
                        Assert.True(inside == (kv >= start && kv < end), $"{seed} trial {trial}: key range of q={q} is [{start}, {end}), kv={kv} inside={inside}");
                    }
                }
            }

            TileKind kind = plan.Classify(0, 0, q0, q1, k0, k1);
            Assert.True(kind != TileKind.Skip || allowed == 0, $"{seed} trial {trial}: skipped a tile with {allowed} allowed pairs");
            Assert.True(kind != TileKind.Full || allowed == (q1 - q0) * (k1 - k0), $"{seed} trial {trial}: full tile with {allowed} allowed pairs");
            Assert.True(allowed == 0 || kind != TileKind.Skip);
        }
    }
}
