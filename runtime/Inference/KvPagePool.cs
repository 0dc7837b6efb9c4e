using System;
using System.Collections.Generic;

namespace AttentionGen.Inference;

/// <summary>
/// The physical pages of a paged KV cache for one attention layer: K [pages, Hkv, pageSize, E] and V [pages, Hkv,
/// pageSize, Ev] in host memory, and the free list that <see cref="KvCache"/>s rent pages from. One pool may serve
/// several caches, on any threads: they rent and return its pages under <see cref="Gate"/>. A cache gives its pages back
/// when it is reset or disposed.
/// </summary>
public sealed class KvPagePool : IDisposable
{
    private readonly bool[] _free;

    // Last returned, first rented (a warm page); never-used pages in ascending order. A page taken by number
    // (KvCache.AssignPages) stays in the stack and is skipped when popped.
    private readonly Stack<int> _freeStack;
    private bool _disposed;

    // Calls of this pool's caches in flight (KvCache.Use), counted under _callLock, which Dispose takes too: the pages'
    // memory outlives a Dispose until the last such call ends, as a cache's does.
    private readonly object _callLock = new();
    private int _calls;

    /// <summary>The lock under which caches check, rent, take and return this pool's pages (each such sequence atomic).</summary>
    internal object Gate { get; } = new();

    /// <summary>A pool of <paramref name="pageCount"/> pages of <paramref name="pageSize"/> tokens, all free.</summary>
    public KvPagePool(int pageCount, int pageSize, int kvHeads, int headDim, int valueDim, DType dtype)
        : this(pageCount, pageSize, kvHeads, headDim, valueDim, dtype, Device.Cpu)
    {
    }

    /// <summary>
    /// <see cref="KvPagePool(int, int, int, int, int, DType)"/> in <paramref name="device"/>'s memory (on a GPU: bf16 or
    /// fp16, value rows at most 256 wide).
    /// </summary>
    public KvPagePool(int pageCount, int pageSize, int kvHeads, int headDim, int valueDim, DType dtype, Device device)
        : this(pageCount, pageSize, kvHeads, headDim, valueDim, dtype, device, quantization: null)
    {
    }

    /// <summary>
    /// <see cref="KvPagePool(int, int, int, int, int, DType, Device)"/> with the scales of an fp8 pool:
    /// <paramref name="dtype"/> <see cref="DType.Float8E4M3"/> needs <paramref name="quantization"/> (one key and one
    /// value scale per kv head, shared by every page) and the cpu; the other dtypes take null.
    /// </summary>
    public KvPagePool(int pageCount, int pageSize, int kvHeads, int headDim, int valueDim, DType dtype, Device device, KvQuantization? quantization)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(pageCount);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(pageSize);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(kvHeads);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(headDim);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(valueDim);
        KvStorageDType.Check(dtype, quantization, kvHeads, nameof(dtype), nameof(quantization));
        KvStorageDType.CheckDevice(device, dtype, headDim, valueDim, nameof(device));
        PageCount = pageCount;
        PageSize = pageSize;
        KvHeads = kvHeads;
        HeadDim = headDim;
        ValueDim = valueDim;
        DType = dtype;
        Quantization = quantization;
        (Keys, Values) = KvStorage.KeysAndValues(dtype, device, pageCount, kvHeads, pageSize, headDim, valueDim, nameof(pageCount));
        _free = new bool[pageCount];
        Array.Fill(_free, true);
        _freeStack = new Stack<int>(pageCount);
        for (int page = pageCount - 1; page >= 0; page--)
        {
            _freeStack.Push(page);
        }

        FreePages = pageCount;
    }

    /// <summary>Physical pages in the pool.</summary>
    public int PageCount { get; }

    /// <summary>Tokens per page.</summary>
    public int PageSize { get; }

    /// <summary>Key/value heads (Hkv).</summary>
    public int KvHeads { get; }

    /// <summary>Key head dimension (E).</summary>
    public int HeadDim { get; }

    /// <summary>Value head dimension (Ev).</summary>
    public int ValueDim { get; }

    /// <summary>The stored element type.</summary>
    public DType DType { get; }

    /// <summary>The per-kv-head scales of an fp8 pool; null for the dtypes stored as given.</summary>
    public KvQuantization? Quantization { get; }

    /// <summary>Pages no cache holds.</summary>
    public int FreePages { get; private set; }

    /// <summary>Whether <see cref="Dispose"/> was called.</summary>
    public bool IsDisposed => _disposed;

    /// <summary>K pages [pages, Hkv, pageSize, E].</summary>
    internal Tensor Keys { get; }

    /// <summary>V pages [pages, Hkv, pageSize, Ev].</summary>
    internal Tensor Values { get; }

    /// <summary>Whether <paramref name="page"/> is free (no range check: callers check first).</summary>
    internal bool IsFree(int page) => _free[page];

    /// <summary>A free page, taken off the free list: the one returned last, else the lowest never used.</summary>
    /// <remarks>Callers check <see cref="FreePages"/> first, so that an append either gets all its pages or none.</remarks>
    internal int Rent()
    {
        while (FreePages > 0)
        {
            int page = _freeStack.Pop();
            if (_free[page])
            {
                Take(page);
                return page;
            }
        }

        throw new InvalidOperationException("The page pool has no free page; callers check FreePages first.");
    }

    /// <summary>Marks the free page <paramref name="page"/> as held.</summary>
    internal void Take(int page)
    {
        _free[page] = false;
        FreePages--;
    }

    /// <summary>Puts held pages back on the free list; after <see cref="Dispose"/> there is nothing to give back to.</summary>
    internal void Return(ReadOnlySpan<int> pages)
    {
        if (_disposed)
        {
            return;
        }

        foreach (int page in pages)
        {
            _free[page] = true;
            _freeStack.Push(page);
            FreePages++;
        }

        // A page taken by number leaves its old entry in the stack, so a caller that places its pages itself and never
        // rents would grow the stack by one entry per page given back, without bound.
        if (_freeStack.Count > 2 * PageCount)
        {
            DropStaleEntries();
        }
    }

    // Keeps each free page's topmost entry, in order: the one Rent reaches first (the entries below it are skipped or
    // reached only after it), so renting takes the same pages in the same order as before.
    private void DropStaleEntries()
    {
        var kept = new List<int>(FreePages);
        var seen = new bool[PageCount];
        foreach (int page in _freeStack)   // top to bottom
        {
            if (_free[page] && !seen[page])
            {
                seen[page] = true;
                kept.Add(page);
            }
        }

        _freeStack.Clear();
        for (int i = kept.Count - 1; i >= 0; i--)
        {
            _freeStack.Push(kept[i]);
        }
    }

    /// <summary>Throws <see cref="ObjectDisposedException"/> once the pool was disposed.</summary>
    internal void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(_disposed, this);

    /// <summary>Marks a call of one of this pool's caches begun; throws once the pool was disposed.</summary>
    internal void BeginCall()
    {
        lock (_callLock)
        {
            ThrowIfDisposed();
            _calls++;
        }
    }

    /// <summary>Ends a <see cref="BeginCall"/>; the last one frees the memory of a pool disposed during it.</summary>
    internal void EndCall()
    {
        lock (_callLock)
        {
            if (--_calls == 0 && _disposed)
            {
                FreeMemory();
            }
        }
    }

    /// <summary>
    /// Frees the pages' memory; caches on this pool throw <see cref="ObjectDisposedException"/> afterwards. During calls
    /// of its caches (other threads'), the last call's end frees it: a decode still reading the pages never reads freed
    /// memory. A second call does nothing.
    /// </summary>
    public void Dispose()
    {
        lock (_callLock)
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
            if (_calls == 0)
            {
                FreeMemory();
            }
        }
    }

    private void FreeMemory()
    {
        Keys.Dispose();
        Values.Dispose();
    }
}
