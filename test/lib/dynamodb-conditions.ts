// DynamoDB condition expressions, evaluated as DynamoDB documents them (Developer Guide,
// "Condition expressions"): comparisons `a = b`, `<>`, `<`, `<=`, `>`, `>=` between attribute
// paths (`#name` placeholders or plain names) and `:value` placeholders; the functions
// `attribute_exists(path)` and `attribute_not_exists(path)`; `AND`, `OR`, `NOT` and parentheses,
// NOT binding tighter than AND, AND tighter than OR. A comparison with a missing attribute, or
// between values of different types, is false; a placeholder the request does not define is a
// ValidationException. Only what the project's stores send is modelled (no nested paths, no
// BETWEEN/IN/size/begins_with).

export interface ConditionInput {
  ConditionExpression?: string;
  ExpressionAttributeNames?: Record<string, string>;
  ExpressionAttributeValues?: Record<string, unknown>;
}

type Token = { kind: 'name' | 'value' | 'word' | 'op' | '(' | ')' | ','; text: string };

function tokenize(expr: string): Token[] {
  const out: Token[] = [];
  const re = /\s*(?:(#\w+)|(:\w+)|(<>|<=|>=|=|<|>)|(\()|(\))|(,)|([A-Za-z_][\w.]*))/y;
  let at = 0;
  while (at < expr.length) {
    if (/^\s*$/.test(expr.slice(at))) break;
    re.lastIndex = at;
    const m = re.exec(expr);
    if (!m) throw new Error(`ValidationException: Invalid ConditionExpression: syntax error near "${expr.slice(at)}"`);
    at = re.lastIndex;
    if (m[1]) out.push({ kind: 'name', text: m[1] });
    else if (m[2]) out.push({ kind: 'value', text: m[2] });
    else if (m[3]) out.push({ kind: 'op', text: m[3] });
    else if (m[4]) out.push({ kind: '(', text: '(' });
    else if (m[5]) out.push({ kind: ')', text: ')' });
    else if (m[6]) out.push({ kind: ',', text: ',' });
    else out.push({ kind: 'word', text: m[7] });
  }
  return out;
}

const MISSING = Symbol('missing');

/** Whether `item` (undefined: no item with that key) satisfies the request's ConditionExpression. */
export function conditionHolds(input: ConditionInput, item: Record<string, unknown> | undefined): boolean {
  const expr = input.ConditionExpression;
  if (expr === undefined) return true;
  const tokens = tokenize(expr);
  let i = 0;
  const fail = (why: string): never => {
    throw new Error(`ValidationException: Invalid ConditionExpression "${expr}": ${why}`);
  };
  const peek = () => tokens[i];
  const keyword = (w: string) => peek()?.kind === 'word' && peek()!.text.toUpperCase() === w;
  const expect = (kind: Token['kind']) => {
    if (peek()?.kind !== kind) fail(`expected ${kind} at token ${i}`);
    return tokens[i++];
  };
  const attributeName = (t: Token): string => {
    if (t.kind === 'word') return t.text;
    const name = input.ExpressionAttributeNames?.[t.text];
    if (name === undefined) fail(`An expression attribute name used in the document path is not defined; attribute name: ${t.text}`);
    return name!;
  };
  const operand = (): unknown => {
    const t = tokens[i++];
    if (!t) return fail('unexpected end');
    if (t.kind === 'value') {
      const values = input.ExpressionAttributeValues ?? {};
      if (!(t.text in values)) fail(`An expression attribute value used in expression is not defined; attribute value: ${t.text}`);
      return values[t.text];
    }
    if (t.kind === 'name' || t.kind === 'word') {
      const name = attributeName(t);
      return item !== undefined && name in item ? item[name] : MISSING;
    }
    return fail(`unexpected "${t.text}"`);
  };
  const compare = (op: string, a: unknown, b: unknown): boolean => {
    if (a === MISSING || b === MISSING || typeof a !== typeof b) return false;
    if (op === '=') return a === b;
    if (op === '<>') return a !== b;
    if (typeof a !== 'number' && typeof a !== 'string') return false;
    const x = a as number | string;
    const y = b as number | string;
    return op === '<' ? x < y : op === '<=' ? x <= y : op === '>' ? x > y : x >= y;
  };
  const factor = (): boolean => {
    if (keyword('NOT')) {
      i++;
      return !factor();
    }
    if (peek()?.kind === '(') {
      i++;
      const v = or();
      expect(')');
      return v;
    }
    if (keyword('ATTRIBUTE_EXISTS') || keyword('ATTRIBUTE_NOT_EXISTS')) {
      const exists = tokens[i++].text.toLowerCase() === 'attribute_exists';
      expect('(');
      const name = attributeName(tokens[i++] ?? fail('unexpected end'));
      expect(')');
      const present = item !== undefined && name in item;
      return exists ? present : !present;
    }
    const left = operand();
    const op = expect('op').text;
    return compare(op, left, operand());
  };
  const and = (): boolean => {
    let v = factor();
    while (keyword('AND')) {
      i++;
      const next = factor(); // evaluated even when v is false: a bad placeholder is still an error
      v = v && next;
    }
    return v;
  };
  const or = (): boolean => {
    let v = and();
    while (keyword('OR')) {
      i++;
      const next = and();
      v = v || next;
    }
    return v;
  };
  const result = or();
  if (i !== tokens.length) fail(`unexpected "${tokens[i].text}"`);
  return result;
}
