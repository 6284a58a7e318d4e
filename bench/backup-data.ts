/**
 * Generated tenant databases for the backup bench. `odooShaped`: what an Odoo database looks like to pg_dump and
 * pg_restore (about 200 tables, each with a primary key, the audit columns and their foreign keys to res_users, a few
 * indexes; most tables small or empty, a handful holding most rows). `singleTable`: one big table, the worst case for
 * a job's fixed cost (the least work per byte). Both are deterministic: the same data at every run.
 */
import type pg from 'pg';

interface TableSpec {
  name: string;
  rows: number;
  /** Column definitions beyond the id and the audit columns every Odoo table has. */
  columns: string[];
  /** One SQL expression per column, over the row number `g`. */
  values: string[];
  indexes: string[][];
}

/** The small tables: ~185 of them, sizes falling off fast, one in five empty (modules installed, never used). */
const SMALL_TABLES = 185;
const smallRows = (index: number) => (index % 5 === 4 ? 0 : Math.round(3000 / (1 + index / 2)));

const audit = {
  columns: [
    'create_uid integer references res_users (id) on delete set null',
    'write_uid integer references res_users (id) on delete set null',
    'create_date timestamp',
    'write_date timestamp',
  ],
  values: [
    '1 + g % 150',
    '1 + g * 7 % 150',
    "timestamp '2024-01-01' + g * interval '1 minute'",
    "timestamp '2025-01-01' - g * interval '1 minute'",
  ],
};

/** Text of about `bytes` characters, different for each row, compressible as real text is. */
const prose = (bytes: number) =>
  `repeat(md5(g::text) || ' ' || md5((g * 3)::text) || ' lorem ipsum dolor sit amet ', ${Math.ceil(bytes / 95)})`;

const large: TableSpec[] = [
  {
    name: 'mail_message',
    rows: 38_000,
    columns: [
      'model varchar',
      'res_id integer',
      'author_id integer references res_partner (id) on delete set null',
      'subject varchar',
      'body text',
      'message_type varchar not null',
      'date timestamp',
    ],
    values: [
      "(array['res.partner','account.move','stock.picking','sale.order'])[1 + g % 4]",
      'g % 9000',
      '1 + g % 20000',
      "'Re: order ' || g",
      `'<p>' || ${prose(380)} || '</p>'`,
      "(array['comment','notification','email'])[1 + g % 3]",
      "timestamp '2024-01-01' + g * interval '5 minutes'",
    ],
    indexes: [['model', 'res_id'], ['author_id'], ['date']],
  },
  {
    name: 'account_move_line',
    rows: 100_000,
    columns: [
      'move_id integer not null references account_move (id) on delete cascade',
      'account_id integer not null references account_account (id)',
      'partner_id integer references res_partner (id)',
      'name varchar',
      'debit numeric',
      'credit numeric',
      'balance numeric',
      'date date not null',
      'reconciled boolean',
    ],
    values: [
      '1 + g % 20000',
      '1 + g % 300',
      '1 + g % 20000',
      "'Invoice line ' || g",
      'case when g % 2 = 0 then (g * 37 % 100000) / 100.0 else 0 end',
      'case when g % 2 = 1 then (g * 37 % 100000) / 100.0 else 0 end',
      'case when g % 2 = 0 then 1 else -1 end * (g * 37 % 100000) / 100.0',
      "date '2024-01-01' + g % 700",
      'g % 3 = 0',
    ],
    indexes: [['move_id'], ['account_id'], ['partner_id'], ['date']],
  },
  {
    name: 'stock_move',
    rows: 40_000,
    columns: [
      'product_id integer not null references product_product (id)',
      'location_id integer not null references stock_location (id)',
      'location_dest_id integer not null references stock_location (id)',
      'product_uom_qty numeric',
      'state varchar',
      'reference varchar',
      'date timestamp',
    ],
    values: [
      '1 + g % 2000',
      '1 + g % 100',
      '1 + g * 7 % 100',
      '1 + g % 40',
      "(array['draft','confirmed','assigned','done','cancel'])[1 + g % 5]",
      "'WH/OUT/' || lpad(g::text, 6, '0')",
      "timestamp '2024-01-01' + g * interval '7 minutes'",
    ],
    indexes: [['product_id'], ['location_id'], ['location_dest_id'], ['state']],
  },
  {
    name: 'ir_attachment',
    rows: 20_000,
    columns: [
      'name varchar not null',
      'res_model varchar',
      'res_id integer',
      'store_fname varchar',
      'checksum varchar(40)',
      'mimetype varchar',
      'file_size integer',
    ],
    values: [
      "'scan-' || g || '.pdf'",
      "(array['account.move','res.partner','mail.message'])[1 + g % 3]",
      'g % 9000',
      "substr(md5(g::text), 1, 2) || '/' || md5(g::text) || substr(md5((g * 5)::text), 1, 8)",
      'substr(md5(g::text) || md5((g * 5)::text), 1, 40)',
      "(array['application/pdf','image/png','text/plain'])[1 + g % 3]",
      'g * 97 % 500000',
    ],
    indexes: [['res_model', 'res_id'], ['checksum']],
  },
  {
    name: 'mail_tracking_value',
    rows: 40_000,
    columns: [
      'mail_message_id integer not null references mail_message (id) on delete cascade',
      'field_id integer',
      'old_value_char varchar',
      'new_value_char varchar',
    ],
    values: ['1 + g % 38000', 'g % 400', "'state ' || (g % 5)", "'state ' || ((g + 1) % 5)"],
    indexes: [['mail_message_id']],
  },
  {
    name: 'ir_ui_view',
    rows: 2_500,
    columns: ['name varchar not null', 'model varchar', 'arch_db text', 'priority integer', 'active boolean'],
    values: ["'view ' || g", "'model.' || (g % 300)", `'<form>' || ${prose(1500)} || '</form>'`, '16', 'true'],
    indexes: [['model']],
  },
];

/** Referenced by the others: made first. */
const referenced: TableSpec[] = [
  {
    name: 'res_partner',
    rows: 20_000,
    columns: [
      'name varchar',
      'email varchar',
      'street varchar',
      'city varchar',
      'company_id integer references res_company (id)',
      'active boolean',
    ],
    values: ["'Partner ' || g", "'partner' || g || '@example.com'", "g || ' Main Street'", "'City ' || (g % 400)", '1 + g % 3', 'true'],
    indexes: [['name'], ['email'], ['company_id']],
  },
  {
    name: 'account_account',
    rows: 300,
    columns: ['code varchar not null', 'name varchar not null', 'company_id integer references res_company (id)'],
    values: ['(100000 + g)::text', "'Account ' || g", '1 + g % 3'],
    indexes: [['code']],
  },
  {
    name: 'account_move',
    rows: 20_000,
    columns: [
      'name varchar',
      'date date not null',
      'partner_id integer references res_partner (id)',
      'state varchar not null',
      'amount_total numeric',
    ],
    values: [
      "'INV/2024/' || lpad(g::text, 5, '0')",
      "date '2024-01-01' + g % 700",
      '1 + g % 20000',
      "'posted'",
      '(g * 53 % 1000000) / 100.0',
    ],
    indexes: [['date'], ['partner_id'], ['state']],
  },
  {
    name: 'product_product',
    rows: 2_000,
    columns: ['default_code varchar', 'barcode varchar', 'active boolean'],
    values: ["'P' || g", "lpad(g::text, 13, '0')", 'true'],
    indexes: [['default_code']],
  },
  {
    name: 'stock_location',
    rows: 100,
    columns: ['name varchar not null', 'complete_name varchar', 'usage varchar'],
    values: ["'Loc ' || g", "'WH/Loc ' || g", "'internal'"],
    indexes: [],
  },
];

const small: TableSpec[] = Array.from({ length: SMALL_TABLES }, (_, index) => ({
  name: `x_model_${String(index + 1).padStart(3, '0')}`,
  rows: smallRows(index),
  columns: [
    'name varchar',
    'active boolean',
    'sequence integer',
    'company_id integer references res_company (id)',
    ...(index % 3 === 0 ? ['partner_id integer references res_partner (id) on delete cascade'] : []),
  ],
  values: ["'Record ' || g", 'g % 10 <> 0', 'g % 100', '1 + g % 3', ...(index % 3 === 0 ? ['1 + g % 20000'] : [])],
  indexes: index % 3 === 0 ? [['company_id'], ['partner_id']] : [['company_id']],
}));

/** Made, or completed when the tenant's Odoo made it already (its res_partner and res_users); then filled and indexed. */
async function createTable(client: pg.Client, table: TableSpec): Promise<void> {
  const columns = [...table.columns, ...audit.columns];
  const exists = (await client.query<{ found: string | null }>('select to_regclass($1) as found', [table.name])).rows[0]!.found;
  if (exists) for (const column of columns) await client.query(`alter table ${table.name} add column if not exists ${column}`);
  else await client.query(`create table ${table.name} (id serial primary key, ${columns.join(', ')})`);
  const names = columns.map((column) => column.split(' ')[0]);
  if (table.rows > 0)
    await client.query(
      `insert into ${table.name} (${names.join(', ')}) select ${[...table.values, ...audit.values].join(', ')} from generate_series(1, ${table.rows}) g`,
    );
  // As Odoo names them.
  for (const index of table.indexes)
    await client.query(`create index ${table.name}__${index.join('_')}_index on ${table.name} (${index.join(', ')})`);
}

/**
 * An Odoo-shaped database: ~200 tables, primary keys, indexes, foreign keys; a few tables hold most of the rows. Over
 * what the tenant's Odoo made at its start, if anything: res_partner and res_users are completed, not made again.
 */
export async function odooShaped(client: pg.Client): Promise<void> {
  await client.query('create table if not exists res_company (id serial primary key, name varchar not null)');
  await client.query("insert into res_company (name) select 'Company ' || g from generate_series(1, 3) g");
  await client.query(
    'create table if not exists res_partner (id serial primary key, name varchar, email varchar, active boolean default true)',
  );
  await client.query(
    "insert into res_partner (name) select 'Base ' || g from generate_series(1, 3) g where not exists (select from res_partner)",
  );
  await client.query(
    'create table if not exists res_users (id serial primary key, login varchar not null unique, partner_id integer not null references res_partner (id), company_id integer not null default 1)',
  );
  // 150 users at least: the audit columns point at ids 1 to 150.
  await client.query(
    "insert into res_users (login, partner_id, company_id) select 'bench_user' || g, 1 + g % 3, 1 + g % 3 from generate_series(1, 150) g",
  );
  for (const table of [...referenced, ...large, ...small]) await createTable(client, table);
  await client.query('analyze');
}

/** One big table of 450,000 rows: the bench's first dataset, kept as the worst case for a fixed cost. */
export async function singleTable(client: pg.Client): Promise<void> {
  await client.query(
    `create table bench_data (id bigint primary key, partner text, amount numeric(12, 2), note text, created timestamptz)`,
  );
  await client.query(
    `insert into bench_data select g, 'Partner ' || (g % 5000), (g * 37 % 100000) / 100.0, md5(g::text) || ' ' || md5((g * 7)::text) || ' ' || md5((g * 13)::text), now() - make_interval(mins => g) from generate_series(1, 450000) g`,
  );
}
