// The package's public types (everything src/index.ts exports, and every type those reach) hold no
// internal hook: what a subscription needs of its transit (SubscriptionHost) stays out of them.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';

import ts from 'typescript';
import { afterAll, describe, expect, it } from 'vitest';

const rootDir = join(import.meta.dirname, '..');
const work = mkdtempSync(join(tmpdir(), 'tapio-public-types-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

function compilerOptions(): ts.CompilerOptions {
  const config = ts.readConfigFile(join(rootDir, 'tsconfig.json'), (path) => ts.sys.readFile(path));
  return ts.parseJsonConfigFileContent(config.config, ts.sys, rootDir).options;
}

/** Not `private`, `protected` or a `#name`. */
function isPublic(decl: ts.Declaration): boolean {
  const name = ts.getNameOfDeclaration(decl);
  if (name !== undefined && ts.isPrivateIdentifier(name)) return false;
  return (ts.getCombinedModifierFlags(decl) & (ts.ModifierFlags.Private | ts.ModifierFlags.Protected)) === 0;
}

/**
 * Every public member reachable from the exports of `entry`, as `Owner.member`: properties and
 * methods, walking into their types, parameters and results, type arguments, unions and
 * intersections. Only declarations in files under `sourceDir` count; of a library type (Promise,
 * Array, EventEmitter) only its type arguments are walked.
 */
function publicMembers(entry: string, sourceDir: string): Set<string> {
  const program = ts.createProgram([entry], { ...compilerOptions(), noEmit: true });
  const checker = program.getTypeChecker();
  const inSource = (decl: ts.Declaration): boolean => !relative(sourceDir, decl.getSourceFile().fileName).startsWith('..');
  const ownerName = (decl: ts.Declaration): string => {
    const parent = decl.parent;
    const name =
      ts.isClassLike(parent) || ts.isInterfaceDeclaration(parent)
        ? parent.name
        : ts.isTypeLiteralNode(parent) && ts.isTypeAliasDeclaration(parent.parent)
          ? parent.parent.name
          : undefined;
    return name?.text ?? '(anonymous)';
  };
  const found = new Set<string>();
  const seen = new Set<ts.Type>();

  const visitSignature = (sig: ts.Signature): void => {
    if (sig.declaration !== undefined && !isPublic(sig.declaration)) return;
    for (const param of sig.parameters) visit(checker.getTypeOfSymbol(param));
    visit(sig.getReturnType());
  };
  const visit = (type: ts.Type): void => {
    if (seen.has(type)) return;
    seen.add(type);
    if (type.isUnionOrIntersection()) type.types.forEach(visit);
    type.aliasTypeArguments?.forEach(visit);
    if (type.flags & ts.TypeFlags.Object && (type as ts.ObjectType).objectFlags & ts.ObjectFlags.Reference)
      checker.getTypeArguments(type as ts.TypeReference).forEach(visit);
    const symbol = type.getSymbol();
    if (symbol === undefined || !(symbol.declarations ?? []).some(inSource)) return;
    for (const prop of checker.getPropertiesOfType(type)) {
      const decl = prop.valueDeclaration ?? prop.declarations?.[0];
      if (decl === undefined || !inSource(decl) || !isPublic(decl)) continue;
      found.add(`${ownerName(decl)}.${prop.name}`);
      visit(checker.getTypeOfSymbol(prop));
    }
    for (const sig of [...type.getCallSignatures(), ...type.getConstructSignatures()]) visitSignature(sig);
    for (const info of checker.getIndexInfosOfType(type)) visit(info.type);
  };

  const moduleSymbol = checker.getSymbolAtLocation(program.getSourceFile(entry)!)!;
  for (const exported of checker.getExportsOfModule(moduleSymbol)) {
    const symbol = exported.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(exported) : exported;
    if (symbol.flags & ts.SymbolFlags.Value) visit(checker.getTypeOfSymbol(symbol));
    if (symbol.flags & ts.SymbolFlags.Type) visit(checker.getDeclaredTypeOfSymbol(symbol));
  }
  return found;
}

const HOOKS = ['wakeOnAppend', 'noteBehind', 'retentionSettled'];

describe('the public types', () => {
  it('reach the transit API but no internal hook', () => {
    const members = publicMembers(join(rootDir, 'src', 'index.ts'), join(rootDir, 'src'));
    for (const name of [
      'TapioStorage.transit',
      'Transit.append',
      'Transit.subscribe',
      'Transit.subscribeBatches',
      'Subscription.close',
      'TransitProducer.append',
    ]) {
      expect(members).toContain(name);
    }
    const leaked = [...members].filter((m) => m.startsWith('SubscriptionHost.') || HOOKS.includes(m.slice(m.indexOf('.') + 1)));
    expect(leaked).toEqual([]);
  });

  it('the walk sees a hook that is public, and not one that is private', () => {
    writeFileSync(
      join(work, 'api.ts'),
      [
        'interface Host { wakeOnAppend(wake: () => void): void }',
        'export interface Shown { noteBehind(): void }',
        'export class Store {',
        '  #host: Host | undefined;',
        '  private retentionSettled(): void {}',
        '  private constructor(host: Host) { this.#host = host; }',
        '  static open(): Promise<Store> { throw new Error(); }',
        '  subscribe(handler: (s: Shown) => void): void {}',
        '}',
      ].join('\n'),
    );
    expect([...publicMembers(join(work, 'api.ts'), work)].sort()).toEqual(['Shown.noteBehind', 'Store.open', 'Store.subscribe']);
  });
});
