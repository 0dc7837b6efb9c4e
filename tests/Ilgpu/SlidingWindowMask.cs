using AttentionGen.Cpu;

namespace AttentionGen.Tests.Ilgpu;

/// <summary>
/// Causal sliding window: query i sees keys i - window &lt; j &lt;= i. A mask mod with a field, as a user writes one;
/// public because the CPU accelerator's generated launcher (assembly ILGPURuntime) must see it.
/// </summary>
public readonly struct SlidingWindowMask(int window) : IMaskMod
{
    public bool IsAllowed(int batch, int head, int q, int kv) => kv <= q && q - kv < window;

    public bool TryGetKeyRange(int batch, int head, int q, out int start, out int end)
    {
        (start, end) = (q - window + 1, q + 1);
        return true;
    }
}
