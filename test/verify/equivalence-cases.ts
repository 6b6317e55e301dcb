/**
 * Our own table of grading cases, written for issue 18 by kind of answer (not copied from any grader's
 * suite). Each row: kind | verdict (`=` equal, `!=` not equal) | reference | what the model wrote.
 * The model text is graded as a response when it has a box or a closing line, else as a bare final
 * answer (what `prl grade --pred-field` does). `⏎` stands for a line break. The `held-out` rows were written
 * after the first rules, as a check of how they generalise (81 of 84 agreed then), `held-out-2` after the
 * second (28 of 37: units in words, lettered choices with a value, Unicode, \mathbb{R}, empty set),
 * `held-out-3` after the third (33 of 35: an equation against its solved form was fixed; a repeated solution
 * `x=5 or x=5` against `5` is still a miss and left out). The misses were fixed.
 * `basics` (equal) and `strict` (not equal) are each other's other direction.
 */
export interface EquivalenceCase {
  kind: string;
  equal: boolean;
  reference: string;
  prediction: string;
  /** 1-based line in the table, for failure messages. */
  line: number;
}

const TABLE = String.raw`
boxes | = | 2, 3 | The solutions are $\boxed{2}$ and $\boxed{3}$.
boxes | = | -3, 2 | So $\boxed{x=2}$ or $\boxed{x=-3}$.
boxes | = | \{1, 2, 3\} | The set is $\boxed{1}$, $\boxed{2}$, $\boxed{3}$.
boxes | = | 1, 2, 4 | $\boxed{\{1, 2\}}$ together with $\boxed{4}$
boxes | = | 5 | First $\boxed{5}$. Checking again, the answer is $\boxed{5}$.
boxes | = | \frac{1}{2}, -1 | Roots: $\boxed{\frac12}$ and $\boxed{-1}$
boxes | = | (1,2), (3,4) | The pairs are $\boxed{(1,2)}$ and $\boxed{(3,4)}$.
boxes | = | 0, \pi | $x = \boxed{0}$ or $x = \boxed{\pi}$
boxes | != | 2 | The solutions are $\boxed{2}$ and $\boxed{3}$.
boxes | != | 2, 3 | The solutions are $\boxed{2}$ and $\boxed{5}$.
boxes | != | 1, 2, 3 | $\boxed{1}$, $\boxed{2}$
boxes | != | (1,2), (3,4) | $\boxed{(1,2)}$ and $\boxed{(4,3)}$
relations | = | x \geq 5 | $x >= 5$
relations | = | x \ge 5 | x \geq 5
relations | = | [5, \infty) | x \geq 5
relations | = | (-\infty, 3) | x < 3
relations | = | (-\infty, 3) | x \lt 3
relations | = | (-2, 3] | -2 < x \leq 3
relations | = | x > 2 | 2 < x
relations | = | x \neq 2 | x \ne 2
relations | = | x \leq -1 | \boxed{x \le -1}
relations | = | (-\infty, -1) \cup (2, \infty) | x < -1 \text{ or } x > 2
relations | = | a \geqslant 1 | a \ge 1
relations | = | k > \frac{1}{2} | k > 0.5
relations | = | x \in [1, 4) | 1 \le x < 4
relations | = | t \geq 3 | [3, +\infty)
relations | != | x \geq 5 | x > 5
relations | != | x \ge 5 | x \le 5
relations | != | [5, \infty) | x > 5
relations | != | x < 3 | x \leq 3
relations | != | (-2, 3] | -2 \le x < 3
relations | != | x > 2 | 2 > x
relations | != | x \geq 5 | 5
relations | != | (-\infty, -1) \cup (2, \infty) | x < -1
labels | = | (3,2) | (p,q)=(3,2)
labels | = | 7:32 | S_{A}:S=7:32
labels | = | 4, 5 | AB=4, CD=5
labels | = | 1, 2 | a = 1, b = 2
labels | = | 2x+1 | f(x) = 2x+1
labels | = | 30 | \angle A = 30^\circ
labels | = | 7 | m+n = 7
labels | = | 12 | The area is $\boxed{A = 12}$.
labels | = | (3, -1) | (x, y) = (3, -1)
labels | = | 4x | y^2 = 4x
labels | != | (3,2) | (p,q)=(2,3)
labels | != | 7:32 | 32:7
labels | != | 4, 5 | AB=4, CD=6
labels | != | 7 | m+n = 8
labels | != | 12 | A = 13
labels | != | x + y = 3 | x - y = 3
separators | = | 2, 3 | 2; 3
separators | = | 2, 3 | x=2 or x=3
separators | = | 3, 2 | 2 \text{ or } 3
separators | = | 2, 3 | 2 and 3
separators | = | (1,2) | (1;2)
separators | = | (1,2), (3,4) | (1; 2), (3; 4)
separators | = | -1, 1 | x = -1 \text{ and } x = 1
separators | != | 2 | 2 or 3
separators | != | 2; 3 | 2; 4
separators | != | (1,2) | (2;1)
separators | != | 2, 3 | 2 and 3 and 4
closing | = | \frac{1}{2} | We compute it.⏎Final Answer: The final answer is $\frac{1}{2}$. I hope it is correct.
closing | = | 12 | Adding up, the final answer is 12.
closing | = | 3 | Therefore, the answer is $x = 3$.
closing | = | 42 | 40 + 2 = 42⏎#### 42
closing | = | 17 | Counting gives seventeen.⏎Answer: $17$
closing | = | 0.5 | Final Answer: The final answer is $0.5$. I hope it is correct.
closing | != | 8 | Final Answer: The final answer is $7$. I hope it is correct.
closing | != | 12 | Adding up, the final answer is 13.
closing | != | 42 | #### 41
closing | != | 5 | The answer is 4, not 5.
chains | = | 11 | x = 5+5+1 = 11
chains | = | \frac{22}{7} | \frac{22}{7} \approx 3.14
chains | = | 2\sqrt{2} | 2\sqrt{2} \approx 2.83
chains | = | 11 | 5 + 6 = 11
chains | = | \pi | \pi \approx 3.1416
chains | = | 6 | \boxed{2 \cdot 3 = 6}
chains | != | 11 | x = 5+5+1 = 12
chains | != | 1 | 1 + 1 = 2
chains | != | 2\sqrt{2} | 2.83
chains | != | \frac{22}{7} | \frac{23}{7} \approx 3.29
percent | = | 28 | 28 percent
percent | = | 28\% | 28 percent
percent | = | 45 | 45 pct
percent | = | 12.5\% | 12.5 \text{ percent}
percent | = | 28\% | 0.28
percent | != | 28 | 27 percent
percent | != | 28\% | 2.8
percent | != | 45 | 54 pct
separators-num | = | 1000.99 | 1000,99
separators-num | = | 1000 | 1{,}000
separators-num | = | 1234567 | 1{,}234{,}567
separators-num | = | 32349 | 32,349
separators-num | = | 3.14 | 3{,}14
separators-num | != | 32349 | 32, 349
separators-num | != | 1000.99 | 1000,98
separators-num | != | 1, 5 | 15
separators-num | != | 1000 | 1{,}001
matrices | = | \begin{pmatrix} 1 & 2 \\ 3 & 4 \end{pmatrix} | \begin{array}{cc} 1 & 2 \\ 3 & 4 \end{array}
matrices | = | \begin{pmatrix} 4 \\ 6 \end{pmatrix} | \begin{pmatrix} 1 \\ 2 \end{pmatrix} + \begin{pmatrix} 3 \\ 4 \end{pmatrix}
matrices | = | \begin{bmatrix} 1 & 0 \\ 0 & 1 \end{bmatrix} | \left(\begin{array}{cc} 1 & 0 \\ 0 & 1 \end{array}\right)
matrices | = | \begin{pmatrix} 2 \\ -1 \end{pmatrix} | \begin{pmatrix} \frac{4}{2} \\ -1 \end{pmatrix}
matrices | != | \begin{pmatrix} 1 & 2 \\ 3 & 4 \end{pmatrix} | \begin{array}{cc} 1 & 2 \\ 4 & 3 \end{array}
matrices | != | \begin{pmatrix} 4 \\ 6 \end{pmatrix} | \begin{pmatrix} 1 \\ 2 \end{pmatrix} + \begin{pmatrix} 3 \\ 5 \end{pmatrix}
matrices | != | \begin{pmatrix} 1 \\ 2 \end{pmatrix} | \begin{pmatrix} 1 & 2 \end{pmatrix}
sets | = | \{1, 2\} | (1, 2)
sets | = | \{-1, 3\} | \{3, -1\}
sets | = | \{2, 5\} | {2, 5}
sets | != | \{1, 2\} | (1, 3)
sets | != | \{1, 2\} | \{1, 2, 3\}
units | = | 5 | 5 \textbf{ cm}
units | = | 12 | 12\textnormal{ cm}
units | = | 3.5 | 3.5 \text{ hours}
units | = | 100 | 100 \mathrm{~m}^2
units | != | 5 | 6 \textbf{ cm}
units | != | 12 | 21\textnormal{ cm}
forms | = | 0.5 | \cfrac{1}{2}
forms | = | 55 | \sum_{k=1}^{10} k
forms | = | y = 2x + 3 | 2x + 3
forms | != | 0.5 | \cfrac{1}{3}
forms | != | 55 | \sum_{k=1}^{11} k
strict | != | 6 | 1, 2, 3
strict | != | 1 - \frac{1}{e} | 1 + \frac{1}{e}
strict | != | 32349 | 32, 349
strict | != | 2\sqrt{2} | 2.828
strict | != | \frac{1}{2} | \frac{1}{3}
strict | != | (1, 2) | (2, 1)
strict | != | [1, 2) | (1, 2]
strict | != | x^2 + 2x + 1 | (x - 1)^2
strict | != | \text{east} | west
strict | != | 10 | 100
strict | != | 3 | 3x
strict | != | \sqrt{2} | 2
strict | != | -5 | 5
strict | != | e^{2} | 2e
strict | != | 1, 2 | 1, 2, 2
basics | = | \frac{1}{2} | 0.5
basics | = | \frac{\sqrt{3}}{3} | \frac{1}{\sqrt{3}}
basics | = | x^2 + 2x + 1 | (x+1)^2
basics | = | 10\% | 10
basics | = | 137.5 | 137 \frac{1}{2}
basics | = | 30 | 30^\circ
basics | = | 6 - 5i | -5i + 6
basics | = | \text{(C)} | C
basics | = | 204_5 | 204_{5}
basics | = | \dfrac{3}{4} | \frac34
basics | = | 2\sqrt{2} | \sqrt{8}
basics | = | -\frac{1}{3} | \frac{-1}{3}
basics | = | \$32,\!348 | 32348
basics | = | (3, \frac{\pi}{2}) | \left( 3, \frac{\pi}{2} \right)
basics | = | 1 - \frac{1}{e} | \frac{e - 1}{e}
held-out | = | 2, 3 | $\boxed{3}$, $\boxed{2}$
held-out | = | \frac{1}{2} | 1/2
held-out | = | \frac{\sqrt{2}}{2} | \sqrt{2}/2
held-out | = | 300000 | 3 \times 10^5
held-out | = | 1024 | 2^{10}
held-out | = | 0.001 | 10^{-3}
held-out | = | 5\sqrt{2} | \sqrt{50}
held-out | = | 3 | \log_2 8
held-out | = | \frac{1}{2} | \sin(\pi/6)
held-out | = | 5 | \$5.00
held-out | = | 5 | 5 \text{ dollars}
held-out | = | \{1,2,3\} | 1,2,3
held-out | = | 1, 2 | x \in \{1, 2\}
held-out | = | 2, -2 | \pm 2
held-out | = | \frac{\pi}{2} | \frac{1}{2}\pi
held-out | = | 6 | 6.0
held-out | = | -0.5 | -\frac{1}{2}
held-out | = | y = -x + 2 | y = 2 - x
held-out | = | \text{Yes} | yes
held-out | = | C | \textbf{(C)}
held-out | = | (2, 3, 4) | (a, b, c) = (2, 3, 4)
held-out | = | x \in (0, 1) | 0 < x < 1
held-out | = | [0, 1] | 0 \leq x \leq 1
held-out | = | (-\infty, 0) \cup (0, \infty) | x \neq 0
held-out | = | x \geq -2 | x\geq-2
held-out | = | 12 | The final answer is $\boxed{12}$
held-out | = | 7 | **Final Answer**: 7
held-out | = | \frac{3}{4} | The answer is: $\frac{3}{4}$
held-out | = | 2 | Final Answer: The final answer is 2. I hope it is correct.
held-out | = | 18 | ... so we get $18$.⏎⏎Final Answer: The final answer is $18$. I hope it is correct.
held-out | = | 100 | 100 \text{ cm}^2
held-out | = | 3 | 3 \text{ meters}
held-out | = | 35 | 35 \%
held-out | = | 0.35 | 35 \%
held-out | = | 50 | 50 per cent
held-out | = | 1.5 | 1,5
held-out | = | 2.5 | 2{,}5
held-out | = | 1000000 | 1,000,000
held-out | = | 1000000 | 1{,}000{,}000
held-out | = | \begin{pmatrix} 1 \\ 2 \end{pmatrix} | \begin{bmatrix} 1 \\ 2 \end{bmatrix}
held-out | = | \begin{pmatrix} 3 & 0 \\ 0 & 3 \end{pmatrix} | \begin{pmatrix} 1 & 0 \\ 0 & 1 \end{pmatrix} + \begin{pmatrix} 2 & 0 \\ 0 & 2 \end{pmatrix}
held-out | = | x = 3, y = 4 | (3, 4)
held-out | = | 12 | 3 \cdot 4 = 12
held-out | = | 4 | 2 + 2 = 4
held-out | = | \sqrt{3} | \sqrt{3} \approx 1.732
held-out | = | 9 | x = 9
held-out | = | 9 | k=9.
held-out | = | 3, 5 | 3 \text{ and } 5
held-out | = | 3, 5 | 3 \text{ or } 5
held-out | = | (1, -2) | (1,\ -2)
held-out | = | \frac{1}{3} | \frac{1}{3}.
held-out | = | 1 - \frac{\sqrt{3}}{2} | \frac{2 - \sqrt{3}}{2}
held-out | = | \emptyset | \varnothing
held-out | != | 2, 3 | $\boxed{3}$, $\boxed{4}$
held-out | != | \frac{1}{2} | 1/3
held-out | != | 1024 | 2^{11}
held-out | != | 3 | \log_2 9
held-out | != | \{1,2,3\} | 1,2
held-out | != | 1, 2 | x \in \{1, 3\}
held-out | != | 2, -2 | 2
held-out | != | y = -x + 2 | y = x + 2
held-out | != | \text{Yes} | no
held-out | != | C | \textbf{(D)}
held-out | != | (2, 3, 4) | (a, b, c) = (2, 4, 3)
held-out | != | x \in (0, 1) | 0 \le x < 1
held-out | != | (-\infty, 0) \cup (0, \infty) | x > 0
held-out | != | 12 | The final answer is $\boxed{13}$
held-out | != | 35 | 36 \%
held-out | != | 0.35 | 3.5 \%
held-out | != | 1.5 | 1, 5
held-out | != | 1000000 | 1,000,001
held-out | != | \begin{pmatrix} 1 \\ 2 \end{pmatrix} | \begin{bmatrix} 2 \\ 1 \end{bmatrix}
held-out | != | 12 | 3 \cdot 4 = 13
held-out | != | 5 | 2 + 2 = 4
held-out | != | 3, 5 | 3 \text{ and } 6
held-out | != | 1 - \frac{\sqrt{3}}{2} | \frac{2 + \sqrt{3}}{2}
held-out | != | 15 | 1, 5
held-out | != | 123 | 1, 2, 3
held-out | != | 6 | 1 + 2 + 3 = 7
held-out | != | 2 | 2i
held-out | != | \pi | 3.14
held-out | != | 1/e | e
held-out | != | 4 | 4!
held-out | != | 0 | \emptyset
held-out-2 | = | \sqrt[3]{2} | 2^{1/3}
held-out-2 | = | -1 | e^{i\pi}
held-out-2 | = | (-\infty, \infty) | \mathbb{R}
held-out-2 | = | \{1, 2\} | \left\{ 1, 2 \right\}
held-out-2 | = | 1000 | 1\,000
held-out-2 | = | \frac{\sqrt{3}}{2} | \sqrt{3}/2
held-out-2 | = | 320000 | 3.2 \times 10^{5}
held-out-2 | = | 5 | 5 square units
held-out-2 | = | 12 | 12 cm
held-out-2 | = | 10 | 10 inches
held-out-2 | = | B | \text{(B)}\ 12
held-out-2 | = | 12 | \textbf{(B)}\ 12
held-out-2 | = | \emptyset | \{\}
held-out-2 | = | \infty | ∞
held-out-2 | = | \pi | π
held-out-2 | = | -3 | −3
held-out-2 | = | 6 | 2 × 3
held-out-2 | = | x^2 + y^2 = 1 | y^2 + x^2 = 1
held-out-2 | = | \frac{x}{2} + 3 | y = \frac{1}{2}x + 3
held-out-2 | = | f(x) = x^2 | x^2
held-out-2 | = | 1, 2 | \{1,2\}
held-out-2 | = | 4\sqrt{2} | \sqrt{32}
held-out-2 | = | 0.\overline{3} | \frac{1}{3}
held-out-2 | = | \frac{1}{3} | 0.\overline{3}
held-out-2 | = | 2 | \boxed{2}.
held-out-2 | = | \text{Monday} | Monday
held-out-2 | = | 5 | 5.
held-out-2 | = | (2, \infty) | x>2
held-out-2 | != | (-\infty, \infty) | (0, \infty)
held-out-2 | != | 5 | 6 square units
held-out-2 | != | B | \text{(C)}\ 12
held-out-2 | != | 12 | \textbf{(B)}\ 13
held-out-2 | != | \pi | 2π
held-out-2 | != | 2\pi | 2
held-out-2 | != | \frac{1}{3} | 0.\overline{4}
held-out-2 | != | x^2 + y^2 = 1 | x^2 + y^2 = 2
held-out-2 | != | 2 | 2 pi
held-out-3 | = | \frac{1}{2} | 50\%
held-out-3 | = | \{(1,2), (3,4)\} | (3,4), (1,2)
held-out-3 | = | y = -\frac{2}{3}x + 2 | 2x + 3y = 6
held-out-3 | = | e^{x} | \exp(x)
held-out-3 | = | i | \sqrt{-1}
held-out-3 | = | [-1,1] \cup [2,3] | [2,3] \cup [-1, 1]
held-out-3 | = | 1\frac{1}{2} | \frac{3}{2}
held-out-3 | = | -\frac{\sqrt{3}}{2} | -\sqrt{3}/2
held-out-3 | = | x^{2} | x^2
held-out-3 | = | 2 | \boxed{2} \text{ units}
held-out-3 | = | 3 | $3$
held-out-3 | = | \frac{9}{4} | 2.25
held-out-3 | = | (-1, 2) | (x, y) = (-1, 2)
held-out-3 | = | 1, -1 | x = \pm 1
held-out-3 | = | \frac{1}{4} | 25\%
held-out-3 | = | 8 | \text{8}
held-out-3 | = | 20 | \$20
held-out-3 | = | 0.75 | \frac{3}{4}
held-out-3 | = | [1, 3] | 1 \le x \le 3
held-out-3 | = | 1 | The answer is $\boxed{1}$. Double-check: the final answer is $1$.
held-out-3 | = | 2 | #### 2
held-out-3 | = | \text{(D)} | D
held-out-3 | = | 2\sqrt{3} | \sqrt{12}
held-out-3 | = | 4 | \boxed{\textbf{4}}
held-out-3 | = | 16 | 16.00
held-out-3 | = | \frac{5}{6} | \dfrac{5}{6}
held-out-3 | != | \frac{1}{2} | 5\%
held-out-3 | != | y = -\frac{2}{3}x + 2 | 2x + 3y = 7
held-out-3 | != | [-1,1] \cup [2,3] | [-1,1] \cup [2,4]
held-out-3 | != | 1, -1 | x = 1
held-out-3 | != | 2 | \boxed{3} \text{ units}
held-out-3 | != | 20 | \$2
held-out-3 | != | 16 | 16.01
held-out-3 | != | [1, 3] | 1 < x \le 3
`;

function parseTable(text: string): EquivalenceCase[] {
  const lines = text.split('\n');
  const cases: EquivalenceCase[] = [];
  lines.forEach((raw, i) => {
    if (raw.trim() === '') return;
    const [kind, verdict, reference, ...rest] = raw.split(' | ');
    if (rest.length === 0 || (verdict !== '=' && verdict !== '!=')) throw new Error(`equivalence-cases.ts table line ${i}: malformed row`);
    cases.push({ kind, equal: verdict === '=', reference, prediction: rest.join(' | ').replace(/⏎/g, '\n'), line: i });
  });
  return cases;
}

export const EQUIVALENCE_CASES: readonly EquivalenceCase[] = parseTable(TABLE);
