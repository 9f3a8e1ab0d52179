-- A fee standard's line may name a class (班级) too: the most specific matching line applies.
ALTER TABLE fee_standard_lines ADD COLUMN class_name TEXT NOT NULL DEFAULT '' CHECK (length(class_name) <= 60);
