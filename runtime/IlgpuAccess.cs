using System.Runtime.CompilerServices;

// ILGPU's CPU accelerator emits its kernel launchers into a dynamic assembly of this name; the ILGPU package's kernels
// take the runtime's internal mods (the variants' masks and scores) as type arguments, which the launcher must see.
[assembly: InternalsVisibleTo("ILGPURuntime")]
