package main

import (
	"encoding/hex"
	"fmt"
	"reflect"
)

// readable turns a decoded wire value into plain maps, slices, strings and
// numbers for JSON: byte strings become hex, enums their names (via
// fmt.Stringer), nil arms and optionals are left out.
func readable(v any) any {
	return walkValue(reflect.ValueOf(v))
}

func walkValue(v reflect.Value) any {
	if !v.IsValid() {
		return nil
	}
	if s, ok := v.Interface().(fmt.Stringer); ok && v.Kind() != reflect.Pointer && v.Kind() != reflect.Struct {
		return s.String()
	}
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return nil
		}
		return walkValue(v.Elem())
	case reflect.Slice, reflect.Array:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			b := make([]byte, v.Len())
			reflect.Copy(reflect.ValueOf(b), v)
			return hex.EncodeToString(b)
		}
		out := make([]any, v.Len())
		for i := range out {
			out[i] = walkValue(v.Index(i))
		}
		return out
	case reflect.Struct:
		out := map[string]any{}
		for i := 0; i < v.NumField(); i++ {
			f := v.Field(i)
			if (f.Kind() == reflect.Pointer || f.Kind() == reflect.Slice) && f.IsNil() {
				continue
			}
			out[v.Type().Field(i).Name] = walkValue(f)
		}
		return out
	}
	return v.Interface()
}
