import Lake
open Lake DSL

/-!
Native Lean side of the prover (the wasm backend needs none of this).

    lake build checker                          -- core Lean only
    lake -R -Kmathlib=true update && lake -R -Kmathlib=true build checker
                                                -- with Mathlib, for MiniF2F / ProofNet

The checker executable serves the work directory given as its argument;
`prover` starts it through `lake env` so that Mathlib is importable.
-/

package prover where
  leanOptions := #[⟨`autoImplicit, false⟩]

-- Mathlib is opt-in: it is large, and core-Lean statements do not need it.
meta if get_config? mathlib |>.isSome then
require mathlib from git "https://github.com/leanprover-community/mathlib4" @ "v4.28.0"

@[default_target]
lean_exe checker where
  srcDir := "lean_env"
  root := `Checker
  -- the checker elaborates user code, which may run the interpreter
  supportInterpreter := true
