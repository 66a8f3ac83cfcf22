-- When a person chose the language of their mail on the preferences page.
-- A roster import then keeps their choice instead of the spreadsheet's
-- locale cell: what the person said about themselves wins over HR's list.
ALTER TABLE alumni ADD COLUMN locale_chosen_at timestamptz;
