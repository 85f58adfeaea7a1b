// Lint: typescript-eslint's recommended type-aware rules, plus the few habits STYLE.md asks for.
import js from '@eslint/js'
import tseslint from 'typescript-eslint'

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'infra/lib/', 'infra/.run/', 'coverage/', 'bench/results/'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/consistent-type-imports': 'error',
      // An async function without await is how we turn a synchronous throw into a rejection.
      '@typescript-eslint/require-await': 'off',
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: { arguments: false } }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-restricted-syntax': [
        'error',
        {
          selector: "BinaryExpression[left.object.property.name='env'][left.property.name='NODE_ENV']",
          message: 'No NODE_ENV branches: configure the code the way users do.',
        },
      ],
    },
  },
  {
    files: ['test/**/*.ts', 'bench/**/*.ts', 'examples/**/*.ts', 'infra/**/*.ts'],
    rules: {
      '@typescript-eslint/no-non-null-assertion': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
    },
  },
  { files: ['eslint.config.js', 'bench/**/*.js', 'src/http/ui/assets/*.js'], ...tseslint.configs.disableTypeChecked },
  // The dashboard's browser script (served as is, no build step).
  {
    files: ['src/http/ui/assets/*.js'],
    languageOptions: {
      sourceType: 'script',
      globals: Object.fromEntries(
        ['document', 'window', 'location', 'fetch', 'setInterval', 'setTimeout', 'EventSource', 'CSS', 'FormData', 'Element']
          .concat(['HTMLInputElement', 'HTMLSelectElement', 'HTMLFormElement'])
          .map((name) => [name, 'readonly']),
      ),
    },
  },
  // Plain-JavaScript Node modules (the benchmark's worker app runs untranspiled, as users' apps do).
  { files: ['bench/**/*.js'], languageOptions: { globals: { process: 'readonly', URL: 'readonly', console: 'readonly' } } },
)
